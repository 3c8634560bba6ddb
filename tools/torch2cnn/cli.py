"""The command: load the module, convert it, write the source and the weights."""

import argparse
import builtins
import importlib
import os
import re
import runpy
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

import rust_quote
from tool_io import Outputs, ToolError, run

from .trace import shape
from .converter import Converter
from .blocks import Writer


def first_line(e):
    """An exception as one line: its type and the first line of its message."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def load_module(spec):
    """The object `spec` names: a Python expression, or `FILE.py:EXPR` evaluated in FILE.py's
    namespace. A missing file, a syntax error or an exception while evaluating is a `ToolError`."""
    m = re.fullmatch(r"(.+?\.py):(.+)", spec, re.S)
    try:
        if m:
            path, expr = m.group(1), m.group(2)
            if not os.path.isfile(path):
                raise ToolError(f"no file {path}")
            sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
            namespace = runpy.run_path(path, run_name="torch2cnn_module")
        else:
            expr = spec
            namespace = {"torch": torch, "nn": nn, "F": F}
            for root in re.findall(r"(?<![\w.])([A-Za-z_]\w*)\s*\.", spec):
                if root not in namespace and not hasattr(builtins, root):
                    try:
                        namespace[root] = importlib.import_module(root)
                    except ImportError:
                        pass
        return eval(expr, namespace)  # noqa: S307  (the user's own expression)
    except SyntaxError as e:
        where = f"{e.filename}:{e.lineno}" if e.filename and e.filename != "<string>" else "the expression"
        raise ToolError(f"{where}: syntax error: {e.msg}") from None
    except ToolError:
        raise
    except Exception as e:  # noqa: BLE001  (the user's code: any failure is theirs to see)
        raise ToolError(f"evaluating {rust_quote.comment(spec)!s} failed: {first_line(e)}") from None


def convert(model, input_shape, name, doc):
    """The DSL source of `model`, or the refusals. A module whose forward fails on the example
    input (too small for a kernel, the wrong channel count, too large to allocate) is a
    `ToolError` naming the input."""
    model.eval()
    torch.manual_seed(0)
    shape = ",".join(map(str, input_shape))
    try:
        example = torch.randn(2, *input_shape)
        conv = Converter(model, example)
    except Exception as e:  # noqa: BLE001  (PyTorch's errors are RuntimeError, ValueError, MemoryError ...)
        raise ToolError(f"the module's forward fails on a batch of 2 inputs of --input {shape}: {first_line(e)}") from None
    items = conv.root_items()
    if conv.errors:
        return None, conv.errors
    return Writer(items).source(name, doc, input_shape), []


def main(argv=None):
    ap = argparse.ArgumentParser(description=sys.modules[__package__].__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("module", help="a Python expression, or FILE.py:EXPR")
    ap.add_argument("--input", required=True, help="C,H,W of one sample")
    ap.add_argument("--name", default="Net", help="the struct's name (default Net)")
    ap.add_argument("--weights", help="write the state_dict here as safetensors")
    ap.add_argument("--out", help="write the source here rather than to standard output")
    args = ap.parse_args(argv)
    try:
        input_shape = tuple(int(v) for v in args.input.split(","))
        assert len(input_shape) == 3 and all(v > 0 for v in input_shape)
    except (ValueError, AssertionError):
        ap.error(f"--input takes C,H,W (three positive integers), not `{args.input}`")
    if not re.fullmatch(r"[A-Z][A-Za-z0-9_]*", args.name) or args.name in rust_quote.KEYWORDS:
        ap.error(f"--name takes a Rust type name such as `Net` (not a keyword), not `{args.name}`")
    with Outputs() as out:
        # Every output is checked before the (slow) work, and none is written unless all are.
        for role, path in (("--out", args.out), ("--weights", args.weights)):
            if path:
                out.add(role, path)
        if args.weights:
            try:
                from safetensors.torch import save_file
            except ImportError:
                raise ToolError("--weights needs the safetensors package: pip install safetensors") from None
        model = load_module(args.module)
        if not isinstance(model, nn.Module):
            raise ToolError(f"`{rust_quote.comment(args.module)}` is a {type(model).__name__}, not an nn.Module")
        doc = f"Converted by `tools/torch2cnn.py` from `{rust_quote.comment(args.module)}`."
        source, errors = convert(model, input_shape, args.name, doc)
        if errors:
            for e in errors:
                print(f"torch2cnn: cannot convert {e}", file=sys.stderr)
            print(f"torch2cnn: {len(errors)} problem{'s' if len(errors) > 1 else ''}; no file written", file=sys.stderr)
            return 1
        command = " ".join(rust_quote.comment(a) for a in (args.module, "--input", args.input, "--name", args.name))
        text = f"// Written by tools/torch2cnn.py {command}\nuse cnn::prelude::*;\n\n" + source
        if args.weights:
            state = {k: v.contiguous() for k, v in model.state_dict().items()}
            out.write("--weights", lambda tmp: save_file(state, tmp))
        if args.out:
            out.write("--out", text)
        else:
            sys.stdout.write(text)
        out.commit()
    return 0

