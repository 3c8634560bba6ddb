"""What cannot be converted, with where it is in the user's source."""

import os
import re

import torch


TORCH_DIR = os.path.dirname(torch.__file__)
# The converter's own code (its tracer runs ops on the example input) is never the user's line.
OWN_DIR = os.path.dirname(os.path.abspath(__file__))


class Refusal(Exception):
    """One thing the DSL cannot express: the module path, the op and its source line."""

    def __init__(self, path, op, why, where=None):
        super().__init__(why)
        self.path, self.op, self.why, self.where = path, op, why, where

    def __str__(self):
        at = f"\n  at {self.where[0]}:{self.where[1]}: {self.where[2]}" if self.where else ""
        return f"{self.path}: {self.op}: {self.why}{at}"


def user_frame(frames):
    """The innermost of (file, line, code) frames that is not PyTorch's own code."""
    for file, line, code in reversed(frames):
        full = os.path.abspath(file)
        if not full.startswith(TORCH_DIR + os.sep) and not full.startswith(OWN_DIR + os.sep):
            return (shown_path(file), line, code.strip())
    return None


def shown_path(file):
    """A source file as the user finds it: relative under the working directory, else as it is
    (a library's file, `site-packages/timm/...`, not `../../root/...`)."""
    if file.startswith("<"):
        return file
    full = os.path.abspath(file)
    return os.path.relpath(full) if full.startswith(os.getcwd() + os.sep) else full


def source_of(node):
    """Where `node` was made in the module's Python, from fx's recorded stack."""
    text = node.meta.get("stack_trace") or ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in [^\n]*\n\s*([^\n]*)', text)
    return user_frame([(f, int(line), code) for f, line, code in frames])
