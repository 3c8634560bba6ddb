#!/usr/bin/env python3
"""Write the `cnn!` DSL of a PyTorch module, with its weights: the command of the converter,
whose code is the package beside this file (tools/torch2cnn/). Run with --help for its usage.

    python3 tools/torch2cnn.py MODULE --input C,H,W [--name Net] [--weights out.safetensors] [--out FILE]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch2cnn.cli import main  # noqa: E402  (the package beside this file)
from tool_io import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run("torch2cnn", main))
