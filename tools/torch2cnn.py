#!/usr/bin/env python3
"""Write the `cnn!` DSL of a PyTorch module, with its weights.

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
"""

import argparse
import builtins
import importlib
import math
import operator
import os
import re
import runpy
import sys
import traceback
from dataclasses import dataclass
from typing import List, Optional

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rust_quote  # noqa: E402  (the tools' own modules, beside this file)
from tool_io import Outputs, ToolError, run  # noqa: E402

TORCH_DIR = os.path.dirname(torch.__file__)


# ---------------------------------------------------------------------------------------------
# Errors: what cannot be converted, with where it is in the user's source.


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
        if not os.path.abspath(file).startswith(TORCH_DIR + os.sep):
            return (os.path.relpath(file) if not file.startswith("<") else file, line, code.strip())
    return None


def source_of(node):
    """Where `node` was made in the module's Python, from fx's recorded stack."""
    text = node.meta.get("stack_trace") or ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in [^\n]*\n\s*([^\n]*)', text)
    return user_frame([(f, int(line), code) for f, line, code in frames])


# ---------------------------------------------------------------------------------------------
# The items of the DSL, before they are written out.

# Numbers are written through `num`, which marks them, so that the uses of one module class can
# be compared with their numbers left out, and the numbers that differ made parameters. A mark
# is \x01ROLE\x03TEXT\x02: ROLE names the parameter it would become.
MARK = re.compile("\x01([^\x03]*)\x03([^\x02]*)\x02")


def num(value, role="n"):
    if isinstance(value, bool):
        raise TypeError("a flag is a word")
    if isinstance(value, float):
        text = "%.9g" % value
        text = re.sub(r"e([+-]?)0*(\d)", r"e\1\2", text).replace("e+", "e")
        if not re.search(r"[.e]", text):
            text += ".0"
    else:
        text = str(int(value))
    return f"\x01{role}\x03{text}\x02"


def pair(value, role):
    """An integer or `(h, w)`."""
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and value[0] != value[1]:
            return f"({num(value[0], role)}, {num(value[1], role)})"
        value = value[0]
    return num(value, role)


def plain(text):
    """The text with its numbers unmarked."""
    return MARK.sub(lambda m: m.group(2), text)


@dataclass
class Item:
    """One item: a layer (`kind` and `args`), a block (`body`), or the items of a child module
    (`module` set: written as a `seq`, the block it is, or a use of a `block`)."""

    kind: str
    args: str = ""
    name: Optional[str] = None  # None: keyed by position; "_": no key of its own
    body: Optional[List["Item"]] = None
    module: Optional[nn.Module] = None
    # For a `residual`: the item after it that is its `shortcut`.
    shortcut: Optional["Item"] = None


def named(item, name):
    item.name = name
    return item


def layer(kind, args=""):
    return Item(kind, args)


# ---------------------------------------------------------------------------------------------
# Leaf modules: the DSL layer each is.


def same_forward(m, base):
    return isinstance(m, base) and type(m).forward is base.forward


def differing(args, key, value, default, role):
    """Appends `key=value` to `args` where `value` (a number or pair) is not `default`."""
    if tuple(value) != default:
        args.append(f"{key}=" + pair(value, role))


def conv_layer(m):
    args = [num(m.in_channels, "cin"), num(m.out_channels, "cout"), "k=" + pair(m.kernel_size, "k")]
    differing(args, "s", m.stride, (1, 1), "s")
    if isinstance(m.padding, str):
        args.append(f"p={m.padding}")
    else:
        differing(args, "p", m.padding, (0, 0), "p")
    differing(args, "d", m.dilation, (1, 1), "d")
    if m.groups != 1:
        args.append("g=" + num(m.groups, "g"))
    if m.bias is None:
        args.append("bias=false")
    if m.padding_mode != "zeros":
        args.append(f"padding_mode={m.padding_mode}")
    return layer("conv", ", ".join(args))


def conv_transpose_layer(m):
    """`nn.ConvTranspose2d`, its arguments in PyTorch's order (groups and bias before dilation)."""
    if m.padding_mode != "zeros":
        raise ValueError(f"padding_mode='{m.padding_mode}' (PyTorch itself takes only zeros here)")
    args = [num(m.in_channels, "cin"), num(m.out_channels, "cout"), "k=" + pair(m.kernel_size, "k")]
    differing(args, "s", m.stride, (1, 1), "s")
    differing(args, "p", m.padding, (0, 0), "p")
    differing(args, "output_padding", m.output_padding, (0, 0), "op")
    if m.groups != 1:
        args.append("g=" + num(m.groups, "g"))
    if m.bias is None:
        args.append("bias=false")
    differing(args, "d", m.dilation, (1, 1), "d")
    return layer("conv_transpose", ", ".join(args))


def upsample_layer(size, scale_factor, mode, align_corners, recompute=None, antialias=False):
    """`nn.Upsample` / `F.interpolate` in the modes the DSL has."""
    if mode not in ("nearest", "nearest-exact", "bilinear"):
        raise ValueError(f"mode='{mode}' (the DSL upsamples with nearest, nearest-exact and bilinear)")
    if antialias:
        raise ValueError("antialias=True has no DSL form")
    args = []
    if size is not None:
        size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        args.append("size=" + pair(tuple(int(v) for v in size), "size"))
    if scale_factor is not None:
        sf = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
        if sf[0] != sf[1]:
            if not all(float(v).is_integer() for v in sf):
                raise ValueError(f"scale_factor={sf}: the DSL takes one number or a pair of integers")
            args.append(f"scale_factor=({int(sf[0])}, {int(sf[1])})")
        else:
            v = sf[0]
            args.append("scale_factor=" + (num(int(v), "scale") if float(v).is_integer() else num(float(v), "scale")))
    args.append("mode=" + ('"nearest-exact"' if mode == "nearest-exact" else mode))
    if align_corners:
        args.append("align_corners=true")
    if recompute:
        args.append("recompute_scale_factor=true")
    return layer("upsample", ", ".join(args))


PADS = {"constant": "zeropad", "zeros": "zeropad", "reflect": "reflectionpad", "replicate": "replicationpad",
        "circular": "circularpad"}


def pad_layer(padding, mode, value=0.0):
    """`F.pad` / the padding modules: `(left, right, top, bottom)` (a pair pads only the width)."""
    padding = tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * 4
    if len(padding) == 2:
        padding = padding + (0, 0)
    if len(padding) != 4:
        raise ValueError(f"padding {padding}: the DSL pads the height and width (4 numbers)")
    if min(padding) < 0:
        raise ValueError(f"padding {padding}: negative padding (cropping) has no DSL form")
    if mode not in PADS or (mode == "constant" and value not in (0, 0.0, None)):
        raise ValueError(f"mode='{mode}' value={value}: the DSL pads with zeros, reflect, replicate or circular")
    if len(set(padding)) == 1:
        return layer(PADS[mode], num(padding[0], "p"))
    return layer(PADS[mode], ", ".join(num(v, "p") for v in padding))


def batchnorm_layer(m):
    args = [num(m.num_features, "c")]
    if m.eps != 1e-5:
        args.append("eps=" + num(m.eps, "eps"))
    if m.momentum is None:
        args.append("momentum=None")
    elif m.momentum != 0.1:
        args.append("momentum=" + num(m.momentum, "momentum"))
    if not m.affine:
        args.append("affine=false")
    if not m.track_running_stats:
        args.append("track_running_stats=false")
    return layer("batchnorm", ", ".join(args))


def layernorm_layer(m):
    if len(m.normalized_shape) != 1:
        raise ValueError(f"normalized_shape {list(m.normalized_shape)}: the DSL normalizes the last dimension only")
    if type(m).__name__ == "LayerNorm2d":
        args = [num(m.normalized_shape[0], "c")]
        if m.eps != 1e-6:
            args.append("eps=" + num(m.eps, "eps"))
        return layer("layernorm2d", ", ".join(args))
    args = [num(m.normalized_shape[0], "c")]
    if m.eps != 1e-5:
        args.append("eps=" + num(m.eps, "eps"))
    if not m.elementwise_affine:
        args.append("elementwise_affine=false")
    elif m.bias is None:
        args.append("bias=false")
    return layer("layernorm", ", ".join(args))


def groupnorm_layer(m):
    args = [num(m.num_groups, "groups"), num(m.num_channels, "c")]
    if m.eps != 1e-5:
        args.append("eps=" + num(m.eps, "eps"))
    if not m.affine:
        args.append("affine=false")
    return layer("groupnorm", ", ".join(args))


def instancenorm_layer(m):
    args = [num(m.num_features, "c")]
    if m.eps != 1e-5:
        args.append("eps=" + num(m.eps, "eps"))
    if m.momentum is None:
        args.append("momentum=None")
    elif m.momentum != 0.1:
        args.append("momentum=" + num(m.momentum, "momentum"))
    if m.affine:
        args.append("affine=true")
    if m.track_running_stats:
        args.append("track_running_stats=true")
    return layer("instancenorm", ", ".join(args))


def maxpool_layer(m):
    if m.return_indices:
        raise ValueError("return_indices=True has no DSL form")
    return pool_layer("maxpool", m.kernel_size, m.stride, m.padding, m.ceil_mode, dilation=m.dilation)


def pool_layer(kind, k, s, p, ceil_mode, dilation=1, count_include_pad=True, divisor_override=None):
    s = k if s is None or s == [] or s == () else s
    args = [pair(k, "k")]
    if s != k:
        args.append(pair(s, "s"))
    if p not in (0, (0, 0)):
        args.append("p=" + pair(p, "p"))
    if dilation not in (1, (1, 1)):
        args.append("d=" + pair(dilation, "d"))
    if ceil_mode:
        args.append("ceil_mode=true")
    if not count_include_pad:
        args.append("count_include_pad=false")
    if divisor_override:
        args.append("divisor_override=" + num(divisor_override, "divisor"))
    return layer(kind, ", ".join(args))


def adaptive_layer(kind, size):
    if isinstance(size, (tuple, list)):
        if any(v is None for v in size):
            raise ValueError(f"output size {tuple(size)} with None has no DSL form")
    return layer(kind, pair(size, "size"))


def linear_layer(m):
    args = [num(m.in_features, "fin"), num(m.out_features, "fout")]
    if m.bias is None:
        args.append("bias=false")
    return layer("linear", ", ".join(args))


def gelu_layer(approximate):
    return layer("gelu", "approximate=tanh" if approximate == "tanh" else "")


def flatten_layer(m):
    if (m.start_dim, m.end_dim) != (1, -1):
        raise ValueError(f"Flatten({m.start_dim}, {m.end_dim}): the DSL flattens from dim 1 to the end")
    return layer("flatten")


def permute_layer(m):
    dims = list(m.dims)
    if dims not in ([0, 2, 3, 1], [0, 3, 1, 2]):
        raise ValueError(f"permute {dims}: the DSL permutes to channels-last and back only")
    return layer("permute", ", ".join(str(d) for d in dims))


def stochastic_depth_layer(m):
    return layer("stochastic_depth", f"{num(float(m.p), 'p')}, mode={m.mode}")


def leaf_layer(m):
    """The DSL layer of a module, or None when the module is not a layer the DSL has."""
    t = type(m)
    name = t.__name__
    if same_forward(m, nn.Conv2d):
        return conv_layer(m)
    if same_forward(m, nn.ConvTranspose2d):
        return conv_transpose_layer(m)
    if same_forward(m, nn.Upsample):
        return upsample_layer(m.size, m.scale_factor, m.mode, m.align_corners, m.recompute_scale_factor)
    if same_forward(m, nn.PixelShuffle):
        return layer("pixel_shuffle", num(m.upscale_factor, "r"))
    if same_forward(m, nn.PixelUnshuffle):
        return layer("pixel_unshuffle", num(m.downscale_factor, "r"))
    for base, mode in ((nn.ZeroPad2d, "constant"), (nn.ReflectionPad2d, "reflect"), (nn.ReplicationPad2d, "replicate"),
                       (nn.CircularPad2d, "circular"), (nn.ConstantPad2d, "constant")):
        if same_forward(m, base):
            return pad_layer(m.padding, mode, getattr(m, "value", 0.0))
    if same_forward(m, nn.Linear):
        return linear_layer(m)
    if same_forward(m, nn.BatchNorm2d) or same_forward(m, nn.BatchNorm1d):
        return batchnorm_layer(m)
    if same_forward(m, nn.LayerNorm) or (isinstance(m, nn.LayerNorm) and name == "LayerNorm2d"):
        return layernorm_layer(m)
    if same_forward(m, nn.GroupNorm):
        return groupnorm_layer(m)
    if same_forward(m, nn.InstanceNorm2d):
        return instancenorm_layer(m)
    if same_forward(m, nn.MaxPool2d):
        return maxpool_layer(m)
    if same_forward(m, nn.AvgPool2d):
        return pool_layer(
            "avgpool", m.kernel_size, m.stride, m.padding, m.ceil_mode,
            count_include_pad=m.count_include_pad, divisor_override=m.divisor_override,
        )
    if same_forward(m, nn.AdaptiveAvgPool2d):
        return adaptive_layer("adaptive_avgpool", m.output_size)
    if same_forward(m, nn.AdaptiveMaxPool2d):
        if m.return_indices:
            raise ValueError("return_indices=True has no DSL form")
        return adaptive_layer("adaptive_maxpool", m.output_size)
    if same_forward(m, nn.Dropout):
        return layer("dropout", num(float(m.p), "p"))
    if same_forward(m, nn.Dropout2d):
        return layer("dropout2d", num(float(m.p), "p"))
    if same_forward(m, nn.ReLU6):
        return layer("relu6")
    simple = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.SiLU: "silu",
              nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid", nn.Identity: "identity"}
    for base, kind in simple.items():
        if same_forward(m, base):
            return layer(kind)
    if same_forward(m, nn.GELU):
        return gelu_layer(m.approximate)
    if same_forward(m, nn.LeakyReLU):
        return layer("leaky_relu", num(float(m.negative_slope), "slope"))
    if same_forward(m, nn.ELU):
        return layer("elu", num(float(m.alpha), "alpha"))
    if same_forward(m, nn.Softmax) or same_forward(m, nn.LogSoftmax):
        kind = "softmax" if isinstance(m, nn.Softmax) else "log_softmax"
        return layer(kind, f"dim={m.dim}" if m.dim is not None else "")
    if same_forward(m, nn.Flatten):
        return flatten_layer(m)
    if same_forward(m, nn.ChannelShuffle):
        return layer("channel_shuffle", num(m.groups, "g"))
    if name == "Permute" and t.__module__.startswith("torchvision."):
        return permute_layer(m)
    if name == "StochasticDepth" and t.__module__.startswith("torchvision."):
        return stochastic_depth_layer(m)
    return None


def has_state(m):
    return any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False))


def is_sequential(m):
    """An `nn.Sequential` (or a subclass that keeps its forward): its children in a chain."""
    return isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward


# ---------------------------------------------------------------------------------------------
# Functions and methods in a forward: the DSL layer each is.

ACTIVATIONS = {
    F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid",
    torch.tanh: "tanh", F.tanh: "tanh", F.silu: "silu", F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid",
}
METHOD_ACTIVATIONS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}
ADDS = {operator.add, torch.add, operator.iadd}
MULS = {operator.mul, torch.mul, operator.imul}


def arg(node, i, key, default=None):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(key, default)


def resolved(value, values):
    """`value` with the numbers computed from shapes in place of their nodes."""
    if isinstance(value, fx.Node) and value in values:
        return values[value]
    if isinstance(value, (list, tuple)):
        return type(value)(resolved(v, values) for v in value)
    return value


class ModuleGraph:
    """One module's traced forward, read back into items."""

    def __init__(self, conv, module, path, example):
        self.conv, self.module, self.prefix = conv, module, path
        # How errors name the module: its path, or its class for the top one.
        self.path = f"`{path}`" if path else f"`{type(module).__name__}` (the top module)"
        tracer = ChildrenAsLeaves(module, conv.inline)
        for sub in module.modules():
            if id(sub) in conv.inline:
                conv.visited.add(id(sub))
        try:
            self.graph = tracer.trace(module)
        except Exception as e:  # noqa: BLE001  (any failure of tracing is the user's to see)
            frames = [(f.filename, f.lineno, f.line or "") for f in traceback.extract_tb(e.__traceback__)]
            raise Refusal(self.path, type(module).__name__, f"cannot be traced with torch.fx: {e}", user_frame(frames))
        self.gm = fx.GraphModule(module, self.graph)
        # Every node's value on the example input: shapes for the ops that need them, and the
        # numbers computed from shapes (`F.avg_pool2d(x, x.size(3))`).
        self.values = {}
        if example is not None:
            try:
                Recorder(self.gm, self.values).run(*example)
            except Exception:  # noqa: BLE001  (values are a help; the ops that need them say so)
                pass
        self.used = set()  # the children already written under their names
        self.numeric = any(re.fullmatch(r"\d+", n) for n, _ in module.named_children())

    def arg(self, node, i, key, default=None):
        """An argument of `node`, numbers computed from shapes resolved."""
        return resolved(arg(node, i, key, default), self.values)

    # -- errors ----------------------------------------------------------------------------

    def refuse(self, node, why, op=None):
        raise Refusal(self.path, op or describe(node), why, source_of(node))

    # -- the graph as values ---------------------------------------------------------------

    def prepare(self):
        g = self.graph
        placeholders = [n for n in g.nodes if n.op == "placeholder"]
        if not placeholders:
            raise Refusal(self.path, type(self.module).__name__, "its forward takes no input")
        self.input = placeholders[0]
        for extra in placeholders[1:]:
            if extra.users:
                self.refuse(extra, "a forward with more than one input has no DSL form", op=f"input `{extra.target}`")
        self.meta = set()  # sizes and numbers computed from shapes, not tensors
        for n in g.nodes:
            if n.op == "call_method" and n.target in ("size", "dim") or (
                n.op == "call_function" and n.target is getattr and arg(n, 1, "") in ("shape", "ndim")
            ):
                self.meta.add(n)
            elif n.op == "call_function" and n.target in (operator.getitem, operator.floordiv, operator.mul,
                                                          operator.add, operator.sub, operator.truediv) \
                    and all(a in self.meta for a in n.all_input_nodes) and n.all_input_nodes:
                self.meta.add(n)
        self.rewrite_lists()
        self.drop_identities()
        self.rewrite_channel_shuffle()
        g.eliminate_dead_code()
        self.nodes = list(g.nodes)
        self.order = {n: i for i, n in enumerate(self.nodes)}
        self.output = next(n for n in self.nodes if n.op == "output")
        out = self.output.args[0]
        if not isinstance(out, fx.Node):
            self.refuse(self.output, "the forward returns several values; the DSL's networks return one", op="return")
        self.result = out

    def is_value(self, n):
        return isinstance(n, fx.Node) and n.op != "get_attr" and n not in self.meta and n.op != "output"

    def value_inputs(self, n):
        out = []

        def visit(a):
            if isinstance(a, fx.Node):
                if self.is_value(a):
                    out.append(a)
            elif isinstance(a, (list, tuple)):
                for b in a:
                    visit(b)
            elif isinstance(a, dict):
                for b in a.values():
                    visit(b)

        visit(n.args)
        visit(n.kwargs)
        return out

    def users(self, n):
        return [u for u in n.users if (self.is_value(u) or u.op == "output")]

    def replace(self, node, by):
        node.replace_all_uses_with(by)
        self.graph.erase_node(node)

    def rewrite_lists(self):
        """A child called with a list of values gets their concatenation (DenseNet's layers:
        `torch.cat(inputs, 1)` is their first op), and concatenations that extend one made
        before read that one, so that `cat([x, a, b])` is `cat([cat([x, a]), b])`."""
        g = self.graph
        for n in list(g.nodes):
            if n.op == "call_module" and n.args and isinstance(n.args[0], (list, tuple)):
                with g.inserting_before(n):
                    cat = g.call_function(torch.cat, (list(n.args[0]), 1))
                cat.meta["stack_trace"] = n.meta.get("stack_trace")
                n.args = (cat,) + tuple(n.args[1:])
        # `torch.cat(input, 1)` on the input itself: the input is the list's concatenation.
        for n in list(g.nodes):
            if self.is_cat(n) and arg(n, 0, "tensors") is self.input:
                self.replace(n, self.input)
        seen = {}
        for n in list(g.nodes):
            if not self.is_cat(n):
                continue
            parts = list(arg(n, 0, "tensors"))
            if len(parts) == 1:
                self.replace(n, parts[0])
                continue
            original = tuple(parts)
            for k in range(len(parts) - 1, 1, -1):
                prefix = seen.get(tuple(parts[:k]))
                if prefix is not None:
                    n.args = ([prefix] + parts[k:], arg(n, 1, "dim", 0))
                    n.kwargs = {}
                    break
            seen[original] = n

    def is_cat(self, n):
        return n.op == "call_function" and n.target in (torch.cat, torch.concat, torch.concatenate)

    def drop_identities(self):
        g = self.graph
        for n in list(g.nodes):
            ident = False
            if n.op == "call_module":
                m = self.gm.get_submodule(n.target)
                ident = (is_sequential(m) and len(m) == 0) or same_forward(m, nn.Identity)
            elif n.op == "call_method" and n.target in ("contiguous", "clone"):
                ident = True
            if ident and len(n.args) >= 1 and isinstance(n.args[0], fx.Node):
                self.replace(n, n.args[0])

    def rewrite_channel_shuffle(self):
        """`channel_shuffle` as torchvision writes it: a view to `[N, g, C / g, H, W]`, a transpose
        of dims 1 and 2, and a view back to `[N, C, H, W]`."""
        g = self.graph
        for n in list(g.nodes):
            if not self.is_view(n):
                continue
            s5, s4 = shape(n), shape(self.value_inputs(n)[0]) if self.value_inputs(n) else None
            if not (s5 and s4 and len(s5) == 5 and len(s4) == 4 and s5[1] * s5[2] == s4[1]):
                continue
            t = list(n.users)
            if len(t) != 1 or not self.is_transpose12(t[0]):
                continue
            back = list(t[0].users)
            if len(back) != 1 or not self.is_view(back[0]) or shape(back[0]) != s4:
                continue
            back = back[0]
            with g.inserting_before(back):
                cs = g.call_function(channel_shuffle_marker, (self.value_inputs(n)[0], s5[1]))
            cs.meta["stack_trace"] = back.meta.get("stack_trace")
            cs.meta["shape"] = back.meta.get("shape")
            back.replace_all_uses_with(cs)
            for dead in (back, t[0], n):
                g.erase_node(dead)

    def is_view(self, n):
        return (n.op == "call_method" and n.target in ("view", "reshape")) or (
            n.op == "call_function" and n.target is torch.reshape)

    def is_transpose12(self, n):
        if n.op == "call_function" and n.target is torch.transpose or n.op == "call_method" and n.target == "transpose":
            return sorted(int(a) % 5 for a in n.args[1:3]) == [1, 2]
        return False

    # -- items -----------------------------------------------------------------------------

    def items(self):
        self.prepare()
        self.pdom = self.post_dominators()
        items = self.walk(self.input, self.result, None)
        for it in items:
            if it.name is None and self.numeric:
                # Positions would be keys beside the numbered children: no key at all.
                it.name = "_"
            blank_inner(it)
        return items

    def post_dominators(self):
        pdom = {}
        for n in reversed(self.nodes):
            if n is self.output:
                pdom[n] = frozenset([n])
                continue
            if not (self.is_value(n) or n.op == "placeholder"):
                continue
            succ = self.users(n)
            if not succ:
                pdom[n] = frozenset([n])
                continue
            common = frozenset.intersection(*(pdom[s] for s in succ))
            pdom[n] = common | {n}
        return pdom

    def join_of(self, v):
        later = [n for n in self.pdom[v] if n is not v]
        if not later:
            return None
        return min(later, key=lambda n: self.order[n])

    def walk(self, v, stop, first):
        """The items that take value `v` to value `stop`, starting with the call `first` when
        given (a branch of a merge at `v`)."""
        items = []
        while v is not stop:
            users = [first] if first is not None else self.users(v)
            first = None
            if len(users) == 1 and users[0].op != "output":
                u = users[0]
                ins = self.value_inputs(u)
                if ins == [v]:
                    if self.is_chunk(u):
                        item, v = self.split(v, u)
                        items.append(item)
                    else:
                        items.extend(self.op(u))
                        v = u
                    continue
            j = self.join_of(v)
            if j is None or j.op == "output":
                self.refuse(users[0], "its result is not joined with the rest (a second output?)")
            items.append(self.merge(v, j))
            v = j
        return items

    def reaches(self, start, target, stop):
        seen, todo = set(), [start]
        while todo:
            n = todo.pop()
            if n is target:
                return True
            if n in seen or n is stop:
                continue
            seen.add(n)
            todo.extend(self.users(n))
        return False

    def branch(self, v, a, j):
        """The items from `v` to `a`, one input of the merge `j`: None for `v` itself."""
        if a is v:
            return None
        starts = [u for u in self.users(v) if u is not j and self.reaches(u, a, j)]
        if len(starts) != 1:
            self.refuse(j, "its inputs share computation (not a nesting of chains and merges)")
        return self.walk(v, a, starts[0])

    def merge_inputs(self, j, kind):
        ins = self.value_inputs(j)
        if kind == "add":
            # `a + b + c` is `(a + b) + c`: one sum of three.
            flat = []
            for a in ins:
                if a.op == "call_function" and a.target in ADDS and len(self.users(a)) == 1 \
                        and len(self.value_inputs(a)) == 2:
                    flat.extend(self.merge_inputs(a, kind))
                else:
                    flat.append(a)
            return flat
        return ins

    def merge(self, v, j):
        kind = self.merge_kind(j)
        ins = self.merge_inputs(j, kind)
        branches = [self.branch(v, a, j) for a in ins]
        starts = sum(1 for b in branches if b is not None)
        others = [u for u in self.users(v) if u is not j]
        if starts != len(others):
            self.refuse(j, "its inputs share computation (not a nesting of chains and merges)")
        ident = [b is None for b in branches]
        if kind == "add":
            if ident.count(True) == 1 and len(branches) == 2:
                body = next(b for b in branches if b is not None)
                return Item("residual", name="_", body=body)
            if not any(ident) and len(branches) == 2:
                # `f(x) + g(x)`: a residual with a shortcut when one side is one child module
                # (torchvision's `downsample`), else a sum.
                # The second operand first: torchvision writes `out += identity`.
                for body, short in ((branches[0], branches[1]), (branches[1], branches[0])):
                    if len(short) == 1 and short[0].module is not None and short[0].name not in (None, "_"):
                        s = short[0]
                        return Item("residual", name="_", body=body,
                                    shortcut=Item("shortcut", name=s.name, body=s.body, module=s.module))
            return Item("sum", name="_", body=[self.as_branch(b) for b in branches])
        if kind == "cat":
            if len(branches) == 2 and ident[0] and not ident[1]:
                return Item("dense", name="_", body=branches[1])
            return Item("cat", name="_", body=[self.as_branch(b) for b in branches])
        if kind == "mul":
            if len(branches) == 2 and ident.count(True) == 1:
                factor = next(a for a in ins if a is not v)
                sv, sf = shape(v), shape(factor)
                if sv and sf and sf != sv and not (len(sf) == 4 and sf[1] == sv[1] and sf[2:] == (1, 1)):
                    self.refuse(j, f"a product of {list(sv[1:])} with {list(sf[1:])}: a `gate` multiplies by one "
                                   "factor per channel ([C, 1, 1]) or per element (the input's shape)")
                return Item("gate", name="_", body=next(b for b in branches if b is not None))
            if len(branches) == 2 and not any(ident):
                # `a(x) * b(x)`: a `mul`, the factor (a [C, 1, 1] or same-shaped value) second.
                sa, sb = shape(ins[0]), shape(ins[1])
                fits = lambda f, v: f == v or (len(f) == 4 and f[1] == v[1] and f[2:] == (1, 1))
                if sa and sb and not fits(sb, sa):
                    if fits(sa, sb):
                        branches = branches[::-1]
                    else:
                        self.refuse(j, f"a product of {list(sa[1:])} with {list(sb[1:])}: `mul` takes a second "
                                       "factor of one value per channel ([C, 1, 1]) or the first's shape")
                return Item("mul", name="_", body=[self.as_branch(b) for b in branches])
        self.refuse(j, "values are joined by an op the DSL has no merge for")

    def as_branch(self, items):
        if items is None:
            return layer("identity")
        if len(items) == 1:
            return items[0]
        return Item("seq", name="_", body=items)

    def merge_kind(self, j):
        if j.op == "call_function" and j.target in ADDS or j.op == "call_method" and j.target in ("add", "add_"):
            return "add"
        if j.op == "call_function" and j.target in MULS or j.op == "call_method" and j.target in ("mul", "mul_"):
            return "mul"
        if self.is_cat(j):
            if norm_dim(self.arg(j, 1, "dim", 0), shape(j)) != 1:
                self.refuse(j, "a concatenation along a dimension other than the channels (dim=1)")
            return "cat"
        return None

    def is_chunk(self, n):
        return (n.op == "call_method" and n.target in ("chunk", "split")) or (
            n.op == "call_function" and n.target in (torch.chunk, torch.split))

    def split(self, v, u):
        """`x.chunk(n, 1)`, each chunk through a branch, joined by `torch.cat`: a `split`."""
        size = self.arg(u, 1, "chunks" if "chunk" in str(u.target) else "split_size_or_sections")
        dim = self.arg(u, 2, "dim", 0)
        s = shape(v)
        if s is None or norm_dim(dim, s) != 1:
            self.refuse(u, "a chunk along a dimension other than the channels (dim=1)")
        parts = sorted(u.users, key=lambda g: g.args[1] if g.target is operator.getitem else -1)
        if any(p.target is not operator.getitem for p in parts):
            self.refuse(u, "its chunks are used other than one by one")
        count = size if "chunk" in str(u.target) else (len(size) if isinstance(size, (list, tuple)) else s[1] // size)
        if isinstance(size, (list, tuple)) and len(set(size)) != 1 or len(parts) != count or \
                [p.args[1] for p in parts] != list(range(count)):
            self.refuse(u, "the DSL's split takes equal chunks, each used once")
        j = self.join_of(u)
        if j is None or not self.is_cat(j):
            self.refuse(u, "its chunks are not joined by `torch.cat` on the channels")
        ins = self.value_inputs(j)
        if len(ins) != count:
            self.refuse(j, "the concatenation does not join exactly the chunks' branches")
        branches = []
        for p, a in zip(parts, ins):
            if a is p:
                branches.append(layer("identity"))
            elif not self.reaches(p, a, j):
                self.refuse(j, "the chunks' branches are joined in another order than the chunks'")
            else:
                branches.append(self.as_branch(self.walk(p, a, None)))
        return Item("split", name="_", body=branches), j

    # -- one op ------------------------------------------------------------------------------

    def op(self, n):
        """The items of a call with one value input."""
        if n.op == "call_module":
            return [self.child(n)]
        if n.op == "call_function" and n.target is channel_shuffle_marker:
            return [layer("channel_shuffle", num(n.args[1], "g"))]
        if n.op == "call_function":
            f = n.target
            if f in ACTIVATIONS:
                return [layer(ACTIVATIONS[f])]
            if f is F.gelu:
                return [gelu_layer(self.arg(n, 1, "approximate", "none"))]
            if f is F.leaky_relu:
                return [layer("leaky_relu", num(float(self.arg(n, 1, "negative_slope", 0.01)), "slope"))]
            if f is F.elu:
                return [layer("elu", num(float(self.arg(n, 1, "alpha", 1.0)), "alpha"))]
            if f is F.hardtanh and (self.arg(n, 1, "min_val", -1.0), self.arg(n, 2, "max_val", 1.0)) == (0.0, 6.0):
                return [layer("relu6")]
            if f in (F.softmax, F.log_softmax, torch.softmax, torch.log_softmax):
                kind = "softmax" if f in (F.softmax, torch.softmax) else "log_softmax"
                return [layer(kind, f"dim={self.arg(n, 1, 'dim')}")]
            if f is torch.flatten:
                return self.flatten(n, self.arg(n, 1, "start_dim", 0), self.arg(n, 2, "end_dim", -1))
            if f in (F.dropout, F.dropout2d):
                kind = "dropout" if f is F.dropout else "dropout2d"
                return [layer(kind, num(float(self.arg(n, 1, "p", 0.5)), "p"))]
            if f is F.max_pool2d:
                if self.arg(n, 6, "return_indices", False):
                    self.refuse(n, "return_indices=True has no DSL form")
                return [pool_layer("maxpool", self.arg(n, 1, "kernel_size"), self.arg(n, 2, "stride"), self.arg(n, 3, "padding", 0),
                                   self.arg(n, 5, "ceil_mode", False), dilation=self.arg(n, 4, "dilation", 1))]
            if f is F.avg_pool2d:
                return [pool_layer("avgpool", self.arg(n, 1, "kernel_size"), self.arg(n, 2, "stride"), self.arg(n, 3, "padding", 0),
                                   self.arg(n, 4, "ceil_mode", False), count_include_pad=self.arg(n, 5, "count_include_pad", True),
                                   divisor_override=self.arg(n, 6, "divisor_override"))]
            if f is F.adaptive_avg_pool2d:
                return [adaptive_layer("adaptive_avgpool", self.arg(n, 1, "output_size"))]
            if f is F.adaptive_max_pool2d:
                return [adaptive_layer("adaptive_maxpool", self.arg(n, 1, "output_size"))]
            if f is torch.mean:
                return self.mean(n, self.arg(n, 1, "dim"), self.arg(n, 2, "keepdim", False))
            if f is torch.reshape:
                return self.view(n)
            if f in MULS:
                return self.scale(n)
            if f is F.interpolate:
                return [self.layer_of(n, lambda: upsample_layer(
                    self.arg(n, 1, "size"), self.arg(n, 2, "scale_factor"), self.arg(n, 3, "mode", "nearest"),
                    self.arg(n, 4, "align_corners"), self.arg(n, 5, "recompute_scale_factor"),
                    self.arg(n, 6, "antialias", False)))]
            if f is F.pad:
                return [self.layer_of(n, lambda: pad_layer(self.arg(n, 1, "pad"), self.arg(n, 2, "mode", "constant"),
                                                           self.arg(n, 3, "value", 0.0)))]
            if f in (F.pixel_shuffle, torch.pixel_shuffle):
                return [layer("pixel_shuffle", num(self.arg(n, 1, "upscale_factor"), "r"))]
            if f in (F.pixel_unshuffle, torch.pixel_unshuffle):
                return [layer("pixel_unshuffle", num(self.arg(n, 1, "downscale_factor"), "r"))]
        if n.op == "call_method":
            m = n.target
            if m in METHOD_ACTIVATIONS:
                return [layer(METHOD_ACTIVATIONS[m])]
            if m == "flatten":
                return self.flatten(n, self.arg(n, 1, "start_dim", 0), self.arg(n, 2, "end_dim", -1))
            if m in ("view", "reshape"):
                return self.view(n)
            if m == "mean":
                return self.mean(n, self.arg(n, 1, "dim"), self.arg(n, 2, "keepdim", False))
            if m == "permute":
                dims = list(n.args[1:]) if len(n.args) > 2 else list(self.arg(n, 1, "dims"))
                if dims in ([0, 2, 3, 1], [0, 3, 1, 2]):
                    return [layer("permute", ", ".join(map(str, dims)))]
            if m in ("mul", "mul_"):
                return self.scale(n)
        self.refuse(n, "the DSL has no layer for it")

    def layer_of(self, n, make):
        """`make()`'s layer, its refusal (a `ValueError`) reported at `n`."""
        try:
            return make()
        except ValueError as e:
            self.refuse(n, str(e))

    def flatten(self, n, start, end):
        s_in = shape(self.value_inputs(n)[0])
        nd = len(s_in) if s_in else 4
        if norm_dim(start, s_in) != 1 or norm_dim(end, s_in) != nd - 1:
            self.refuse(n, f"flatten from dim {start} to {end}: the DSL flattens from dim 1 to the end")
        return [] if nd == 2 else [layer("flatten")]

    def view(self, n):
        s_in, s_out = shape(self.value_inputs(n)[0]), shape(n)
        if s_in is None or s_out is None:
            self.refuse(n, "its shapes are unknown (the example input did not reach it)")
        if s_out == s_in:
            return []
        if len(s_out) == 2 and s_out[0] == s_in[0] and s_out[1] == math.prod(s_in[1:]):
            return [layer("flatten")]
        self.refuse(n, f"a view from {list(s_in[1:])} to {list(s_out[1:])} per sample; the DSL reshapes only by `flatten`")

    def mean(self, n, dims, keepdim):
        s_in = shape(self.value_inputs(n)[0])
        dims = [dims] if isinstance(dims, int) else list(dims or [])
        if s_in is None or len(s_in) != 4 or sorted(norm_dim(d, s_in) for d in dims) != [2, 3]:
            self.refuse(n, "a mean over other dimensions than the spatial ones ([2, 3])")
        return [layer("global_avgpool")] if keepdim else [layer("global_avgpool"), layer("flatten")]

    def scale(self, n):
        """`param * x` with a learned parameter of the module: `scale`, keyed by the parameter."""
        attrs = [a for a in n.args if isinstance(a, fx.Node) and a.op == "get_attr"]
        if len(attrs) != 1:
            self.refuse(n, "a product with a constant has no DSL form")
        p = self.gm.get_parameter(attrs[0].target) if attrs[0].target in dict(self.gm.named_parameters()) else None
        s = shape(self.value_inputs(n)[0])
        if p is None or s is None or len(s) != 4 or tuple(p.shape) != (s[1], 1, 1):
            self.refuse(n, "only a learned per-channel factor of shape [C, 1, 1] is a DSL layer (`scale`)")
        values = p.detach().flatten()
        init = float(values[0]) if bool((values == values[0]).all()) else 1.0
        args = num(s[1], "c") + ("" if init == 1.0 else ", init=" + num(init, "init"))
        return [named(layer("scale", args), attrs[0].target)]

    def child(self, n):
        """A call of a child module: its layer, or its items."""
        target = n.target
        m = self.gm.get_submodule(target)
        if target in self.used:
            if any(True for _ in m.parameters()) or any(True for _ in m.buffers()):
                self.refuse(n, "a module with weights called twice (shared weights) has no DSL form")
            name = "_"
        else:
            name = name_text(target)
        self.used.add(target)
        return self.conv.module_item(m, self.qualify(target), name, n)

    def qualify(self, target):
        return f"{self.prefix}.{target}" if self.prefix else target


def blank_inner(item):
    """Items written for a forward's calls inside a merge (keyed under the module, beside the
    merge's other items and the module's own) have no key of their own, so that two branches'
    `relu`s do not both claim one position; a child module's items are its own."""
    if item.module is not None:
        return
    for inner in (item.body or []) + ([item.shortcut] if item.shortcut is not None else []):
        if inner.name is None:
            inner.name = "_"
        blank_inner(inner)


def name_text(path):
    """A module path as a DSL name: words and (after the first) numbers as they are, anything
    else quoted so that the DSL reads it back verbatim (`trunk."block1-0"`, `"0"`, `"a{{1}}"`)."""
    try:
        return rust_quote.name(path)
    except rust_quote.Unrepresentable as e:
        raise Refusal(f"`{path}`", "module name", str(e)) from None


def describe(node):
    if node.op == "call_module":
        return f"module `{node.target}`"
    if node.op == "call_method":
        return f"method `.{node.target}()`"
    if node.op == "call_function":
        f = node.target
        mod = getattr(f, "__module__", None) or ""
        name = getattr(f, "__name__", str(f))
        if f is channel_shuffle_marker:
            return "channel shuffle"
        if mod.startswith("torch.nn.functional"):
            return f"`F.{name}`"
        if mod == "_operator":
            return f"`operator.{name}`"
        return f"`torch.{name}`" if mod.startswith("torch") or mod == "" else f"`{mod}.{name}`"
    return f"`{node.op}`"


def channel_shuffle_marker(x, groups):
    """Stands in the graph for torchvision's `channel_shuffle(x, groups)` once recognized."""
    raise AssertionError("never run")


def shape(n):
    return n.meta.get("shape") if isinstance(n, fx.Node) else None


def norm_dim(d, s):
    if d is None:
        return None
    nd = len(s) if s else 4
    return d % nd if d < 0 else d


class Recorder(fx.Interpreter):
    """Runs a traced module, keeping each node's value (a tensor's shape, or the number)."""

    def __init__(self, gm, values):
        super().__init__(gm)
        self.values = values

    def run_node(self, n):
        result = super().run_node(n)
        if isinstance(result, torch.Tensor):
            n.meta["shape"] = tuple(result.shape)
        elif isinstance(result, (int, float, torch.Size)) or (
            isinstance(result, tuple) and all(isinstance(v, int) for v in result)
        ):
            self.values[n] = result
        return result


class ChildrenAsLeaves(fx.Tracer):
    """Traces one module, with each child module called as it is (a leaf), but for the modules
    in `inline` (by id): those called with several tensors (a U-Net's `Up(x, skip)`), whose
    forward joins values of the caller, so their code is traced into the caller's, their own
    children keyed by their paths (`up.conv`)."""

    def __init__(self, root, inline=frozenset()):
        super().__init__()
        self.root_module = root
        self.inline = inline
        self.record_stack_traces = True

    def is_leaf_module(self, m, qualname):
        return m is not self.root_module and id(m) not in self.inline


# ---------------------------------------------------------------------------------------------
# The whole module.


class Converter:
    def __init__(self, model, example):
        self.model = model
        self.errors = []
        self.inputs = {}
        hooks = []
        for m in model.modules():
            hooks.append(m.register_forward_pre_hook(self.record))
        try:
            with torch.no_grad():
                model(example)
        finally:
            for h in hooks:
                h.remove()
        # Modules called with several tensors join values of their caller: traced into it.
        self.inline = frozenset(k for k, args in self.inputs.items()
                                if k != id(model) and sum(isinstance(a, torch.Tensor) for a in args) > 1)

    def record(self, m, args):
        # A copy of a list argument: the caller may append to it later (DenseNet's features).
        args = tuple(list(a) if isinstance(a, list) else a for a in args)
        self.inputs.setdefault(id(m), args)

    def root_items(self):
        self.visited = {id(self.model)}
        items = self.module_items(self.model, "")
        # A module with weights that forward never calls still has its keys in the state_dict,
        # which the written network would not load.
        modules = dict(self.model.named_modules())

        def unused(m):
            return all(id(d) not in self.visited for d in m.modules() if has_state(d))

        reported = []
        for path, m in modules.items():
            if not path or id(m) in self.visited or not has_state(m):
                continue
            # Named by the outermost module all of whose weights are unused (`AuxLogits`).
            while "." in path and unused(modules[path.rsplit(".", 1)[0]]):
                path = path.rsplit(".", 1)[0]
            if path not in reported:
                reported.append(path)
                self.errors.append(Refusal(f"`{path}`", type(modules[path]).__name__,
                                           "it has weights in the state_dict, but forward (in eval mode) never "
                                           "calls it; build the module without it"))
        return items

    def refused(self, m, refusal):
        """Records a refusal of module `m`: its children are then accounted for, so that the
        check for unused weights does not report them too (with a false reason and fix)."""
        self.errors.append(refusal)
        self.visited.update(id(d) for d in m.modules())

    def module_item(self, m, path, name, node=None):
        """The item for module `m` called as `name`."""
        self.visited.add(id(m))
        where = source_of(node) if node else None
        try:
            leaf = leaf_layer(m)
        except ValueError as e:
            self.refused(m, Refusal(f"`{path}`", type(m).__name__, str(e), where))
            return Item("identity", name=name)
        if leaf is not None:
            return named(leaf, name)
        if not any(True for _ in m.children()) and (has_state(m) or type(m).__module__.startswith("torch.")):
            self.refused(m, Refusal(f"`{path}`", f"{type(m).__module__}.{type(m).__name__}",
                                    "the DSL has no layer for this module", where))
            return Item("identity", name=name)
        return Item("seq", name=name, body=self.module_items(m, path), module=m)

    def module_items(self, m, path):
        try:
            if is_sequential(m):
                items = []
                for pos, (child_name, child) in enumerate(m.named_children()):
                    child_path = f"{path}.{child_name}" if path else child_name
                    label = None if child_name == str(pos) else name_text(child_name)
                    items.append(self.module_item(child, child_path, label))
                return items
            return ModuleGraph(self, m, path, self.inputs.get(id(m))).items()
        except Refusal as e:
            self.refused(m, e)
            return []


# ---------------------------------------------------------------------------------------------
# Blocks: module classes used more than once with one structure.

RESERVED = {
    # The DSL's words, tested equal to its registries by cnn-macros/src/vocabulary.rs: the layer
    # kinds with their other spellings, the blocks, and the keywords.
    "input", "conv", "conv2d", "conv_transpose", "conv_transpose2d", "linear", "maxpool", "pool", "avgpool",
    "adaptive_avgpool", "adaptive_maxpool", "global_avgpool", "batchnorm", "batchnorm1d", "batchnorm2d",
    "layernorm", "layernorm2d", "groupnorm", "instancenorm", "instancenorm2d", "dropout", "dropout2d",
    "stochastic_depth", "flatten", "identity", "relu", "relu6", "leaky_relu", "elu", "sigmoid", "tanh", "gelu", "silu",
    "hardswish", "hardsigmoid", "softmax", "log_softmax", "permute", "scale", "channel_shuffle", "upsample",
    "interpolate", "pixel_shuffle", "pixel_unshuffle", "zeropad", "zeropad2d", "reflectionpad", "reflectionpad2d",
    "replicationpad", "replicationpad2d", "circularpad", "circularpad2d",
    "seq", "residual", "shortcut", "cat", "dense", "gate", "split", "sum", "mul",
    "block", "for", "in", "if", "else", "true", "false", "None",
}


def snake(name):
    """A module class's name as a block's: snake case, ASCII, never a keyword of Rust or the DSL."""
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name.lstrip("_"))
    s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s).lower()
    s = re.sub(r"[^a-z0-9_]", "_", s)
    if not re.match(r"[a-z]", s):
        s = "module_" + s
    return s if s not in RESERVED and rust_quote.is_identifier(s) else s + "_block"


class Writer:
    """Writes items as DSL text, with `block`s for repeated module classes."""

    def __init__(self, items):
        self.items = items
        self.instances = []  # container items with a module, innermost first
        self.collect(items)
        self.groups = {}  # id(item) -> (block name, its instance index)
        self.blocks = []  # (name, params, body text)
        self.find_blocks()

    def collect(self, items):
        for it in items:
            for sub in (it.body or []):
                self.collect([sub])
            if it.shortcut is not None:
                self.collect([it.shortcut])
            if it.module is not None and it.kind == "seq" and not type(it.module) is nn.Sequential:
                self.instances.append(it)

    def find_blocks(self):
        by_class = {}
        for it in self.instances:
            shape = skeleton(self.body_text(it.body, expand=True))
            by_class.setdefault(type(it.module), {}).setdefault(shape, []).append(it)
        names = set()
        # Innermost classes first, so that an outer block's body uses the inner blocks.
        for cls, shapes in by_class.items():
            groups = [g for g in shapes.values() if len(g) > 1]
            for k, group in enumerate(groups):
                base = snake(cls.__name__)
                name = base if k == 0 else f"{base}_{k + 1}"
                while name in names:
                    name += "_"
                names.add(name)
                for i, it in enumerate(group):
                    self.groups[id(it)] = (name, i)
                self.blocks.append([name, group])
        # A block's body uses the blocks inside it: those are made first.
        self.blocks.sort(key=lambda b: height(b[1][0]))
        self.written = []
        for name, group in self.blocks:
            self.written.append(self.make_block(name, group))

    def make_block(self, name, group):
        texts = [self.body_text(it.body) for it in group]
        # The uses were grouped by their bodies written out in full; written with the blocks
        # inside them, they must still differ in numbers only.
        assert len({skeleton(t) for t in texts}) == 1, f"block {name}: uses differ in more than numbers"
        slots = [MARK.findall(t) for t in texts]
        n = len(slots[0])
        params, exprs, by_vector = [], [], {}
        taken = set()
        for s in range(n):
            role = slots[0][s][0]
            values = tuple(sl[s][1] for sl in slots)
            if len(set(values)) == 1:
                exprs.append(values[0])
                continue
            if values in by_vector:
                exprs.append(by_vector[values])
                continue
            expr = derived(values, params)
            if expr is None:
                pname = role if role not in taken and role not in RESERVED else None
                k = 2
                while pname is None:
                    cand = f"{role}{k}"
                    pname = cand if cand not in taken else None
                    k += 1
                taken.add(pname)
                params.append((pname, values))
                expr = pname
            by_vector[values] = expr
            exprs.append(expr)
        it = iter(exprs)
        body = MARK.sub(lambda m: next(it), texts[0])
        for i, inst in enumerate(group):
            # Marked, so that a block using this one sees the arguments as its numbers.
            inst.use_args = ", ".join(f"\x01{pname}\x03{v[i]}\x02" for pname, v in params)
        return name, [p for p, _ in params], body

    def body_text(self, items, depth=0, expand=False):
        """The items, those without a body run together on lines of up to 100 characters, as
        one writes the DSL by hand (`conv1: conv(...) bn1: batchnorm(64) relu`)."""
        pad = "    " * depth
        lines, line = [], ""
        for it in items:
            text = self.item_text(it, depth, expand)
            if it.body is not None and not (it.module is not None and id(it) in self.groups and not expand) \
                    or it.shortcut is not None:
                if line:
                    lines.append(line + "\n")
                    line = ""
                lines.append(text)
                continue
            piece = text.strip()
            if line and len(plain(line)) + 1 + len(plain(piece)) <= 100:
                line += " " + piece
            else:
                if line:
                    lines.append(line + "\n")
                line = pad + piece
        if line:
            lines.append(line + "\n")
        return "".join(lines)

    def item_text(self, it, depth, expand=False):
        pad = "    " * depth
        label = f"{it.name}: " if it.name is not None else ""
        if it.module is not None and not expand and id(it) in self.groups:
            bname, i = self.groups[id(it)]
            text = f"{pad}{label}{bname}({it.use_args})\n"
        elif it.body is not None:
            kind, body, lab = it.kind, it.body, label
            # A child module holding one block, `_: residual { ... }`, is written as that block.
            if it.module is not None and len(body) == 1 and body[0].name == "_" and body[0].body is not None \
                    and body[0].shortcut is None and body[0].kind != "seq":
                kind, body = body[0].kind, body[0].body
            inner = self.body_text(body, depth + 1, expand)
            one_line = f"{pad}{lab}{kind} {{ {inner.strip()} }}\n"
            if not body:
                text = f"{pad}{lab}identity\n"
            elif inner.count("\n") == 1 and len(plain(one_line)) <= 101:
                text = one_line
            else:
                text = f"{pad}{lab}{kind} {{\n{inner}{pad}}}\n"
        else:
            args = f"({it.args})" if it.args else ""
            text = f"{pad}{label}{it.kind}{args}\n"
        if it.shortcut is not None:
            text += self.item_text(it.shortcut, depth, expand)
        return text

    def source(self, name, doc, input_shape):
        out = []
        for bname, params, body in self.written:
            out.append(f"    block {bname}({', '.join(params)}) {{\n{indent(plain(body), 2)}    }}\n")
        items = plain(self.body_text(self.items, 0))
        c, h, w = input_shape
        out.append(f"    /// {doc}\n    pub struct {name} {{\n        input({c}, {h}, {w})\n{indent(items, 2)}    }}\n")
        return "cnn! {\n" + "\n".join(out) + "}\n"


def skeleton(text):
    """The text with its numbers and its line breaks left out: what uses of a block share."""
    return re.sub(r"\s+", " ", MARK.sub("#", text))


def height(item):
    """How deep the items under `item` nest."""
    inner = list(item.body or []) + ([item.shortcut] if item.shortcut is not None else [])
    return 1 + max((height(i) for i in inner), default=0)


def indent(text, levels):
    pad = "    " * levels
    return "".join(pad + line + "\n" if line else "\n" for line in text.splitlines())


def derived(values, params):
    """`values` as an earlier parameter times or divided by a constant, when it is one."""
    try:
        vs = [int(v) for v in values]
    except ValueError:
        return None
    for pname, pv in params:
        try:
            ps = [int(v) for v in pv]
        except ValueError:
            continue
        if all(p != 0 for p in ps) and all(v % p == 0 for v, p in zip(vs, ps)):
            ratios = {v // p for v, p in zip(vs, ps)}
            if len(ratios) == 1 and (r := ratios.pop()) > 1:
                return f"{pname} * {r}"
        if all(v != 0 for v in vs) and all(p % v == 0 for v, p in zip(vs, ps)):
            ratios = {p // v for v, p in zip(vs, ps)}
            if len(ratios) == 1 and (r := ratios.pop()) > 1:
                return f"{pname} / {r}"
    return None


# ---------------------------------------------------------------------------------------------


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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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


if __name__ == "__main__":
    sys.exit(run("torch2cnn", main))
