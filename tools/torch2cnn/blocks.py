"""Blocks: module classes used more than once with one structure, and the source written out."""

import re

import torch.nn as nn

import rust_quote

from .dsl import MARK, plain
from .trace import shape


RESERVED = {
    # The DSL's words, tested equal to its registries by cnn-macros/src/vocabulary.rs: the layer
    # kinds with their other spellings, the blocks, and the keywords.
    "input", "conv", "conv2d", "conv1d", "conv_transpose", "conv_transpose2d", "linear", "maxpool", "pool", "avgpool",
    "adaptive_avgpool", "adaptive_maxpool", "global_avgpool", "batchnorm", "batchnorm1d", "batchnorm2d", "frozen_batchnorm", "frozen_batchnorm2d",
    "layernorm", "layernorm2d", "groupnorm", "instancenorm", "instancenorm2d", "dropout", "dropout2d",
    "stochastic_depth", "flatten", "identity", "relu", "relu6", "leaky_relu", "elu", "sigmoid", "tanh", "gelu", "silu",
    "hardswish", "hardsigmoid", "softmax", "log_softmax", "permute", "scale", "channel_shuffle", "narrow", "view", "reshape",
    "upsample",
    "interpolate", "pixel_shuffle", "pixel_unshuffle", "zeropad", "zeropad2d", "reflectionpad", "reflectionpad2d",
    "replicationpad", "replicationpad2d", "circularpad", "circularpad2d",
    "seq", "residual", "shortcut", "cat", "dense", "gate", "split", "sum", "sub", "mul",
    "block", "for", "in", "if", "else", "true", "false", "None", "let", "from", "output", "reuse",
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
            kind, body, lab, block_args = it.kind, it.body, label, (it.args if it.module is None else "")
            # A child module holding one block, `_: residual { ... }`, is written as that block.
            if it.module is not None and len(body) == 1 and body[0].name == "_" and body[0].body is not None \
                    and body[0].shortcut is None and body[0].kind != "seq":
                kind, body, block_args = body[0].kind, body[0].body, body[0].args
            inner = self.body_text(body, depth + 1, expand)
            # A block's own arguments (`split(16, 48)`).
            head = f"{kind}({block_args})" if block_args else kind
            one_line = f"{pad}{lab}{head} {{ {inner.strip()} }}\n"
            if not body:
                text = f"{pad}{lab}identity\n"
            elif inner.count("\n") == 1 and len(plain(one_line)) <= 101:
                text = one_line
            else:
                text = f"{pad}{lab}{head} {{\n{inner}{pad}}}\n"
        elif it.kind in ("let", "from", "output") and it.body is None:
            text = f"{pad}{it.kind} {it.args}\n"
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
