#!/usr/bin/env python3
"""Write the `cnn!` DSL of a PyTorch module, with its weights: the converter as a package.

    python3 tools/torch2cnn.py MODULE --input C,H,W [--name Net] [--weights out.safetensors] [--out FILE]

MODULE is a Python expression, such as `torchvision.models.densenet121()`, or `FILE.py:EXPR`,
evaluating EXPR in the namespace of FILE.py (`models.py:ResNet18()`). The module is put in eval
mode and traced with torch.fx one module at a time, each traced with its children as leaves, so
the module hierarchy is kept: a child's attribute name is its item's name and every key of the
module's `state_dict` is a key of the written network. The forward graph of each module is
read back into the DSL's items and blocks: a chain of calls is a chain of items, and a value
used by several calls and joined again is a merge (`x + f(x)` a `residual`, `f(x) + g(x)` a
`residual` with a `shortcut` or a `sum`, `torch.cat` a `cat` or a `dense`, `x * f(x)` a `gate`,
`x.chunk(n, 1)` joined by `torch.cat` a `split`). Each module class used more than once with
the same structure becomes a `block`, its parameters what differs between the uses (channels,
strides, probabilities).

Anything the DSL cannot express (an op it has no layer for, a connection that is not a nesting
of chains and merges, a module that cannot be traced) is reported with the module's path, the
op and its Python source line; then no file is written and the exit status is 1. A problem with
the command itself (a syntax error in FILE.py, an --input the module's forward fails on, an
output that cannot be written) is one line naming it, exit status 2, and no file written.

The source goes to standard output, or to `--out FILE`; `--weights FILE` writes the module's
`state_dict` as safetensors, which the written network's `load_safetensors` reads as it is.
Both are written only when everything succeeded, and through symbolic links.

The package's modules, in the order a conversion uses them: `errors` (refusals and where they
are in the user's source), `dsl` (the items and their numbers), `modules` (leaf modules to
layers), `trace` (a module's forward traced and read back into items and merges), `converter`
(the whole module), `blocks` (classes used more than once become blocks; the source written
out), `cli` (the command). `tools/torch2cnn.py` runs it.
"""

import os
import sys

# The tools' own modules (rust_quote, tool_io) lie beside the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from .blocks import RESERVED, Writer, snake  # noqa: E402
from .cli import convert, load_module, main  # noqa: E402
from .errors import Refusal  # noqa: E402
