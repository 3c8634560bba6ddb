"""`python3 -m torch2cnn` (with tools/ on the path) runs the command as tools/torch2cnn.py does."""

import sys

from tool_io import run

from .cli import main

sys.exit(run("torch2cnn", main))
