"""Functions and methods in a forward, traced with torch.fx one module at a time: the DSL items
and merges each is."""

import inspect
import math
import operator
import re
import traceback

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

import rust_quote

from .errors import Refusal, source_of, user_frame
from .dsl import Item, layer, named, num
from .modules import adaptive_layer, conv_layer, gelu_layer, is_sequential, pad_layer, pool_layer, same_forward, upsample_layer


ACTIVATIONS = {
    F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid",
    torch.tanh: "tanh", F.tanh: "tanh", F.silu: "silu", F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid",
}
METHOD_ACTIVATIONS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}
ADDS = {operator.add, torch.add, operator.iadd}
VIEWS = ("reshape", "view", "unsqueeze", "expand", "expand_as")
ATTENTION = {torch.matmul, operator.matmul, torch.bmm, torch.baddbmm, torch.einsum, F.scaled_dot_product_attention}
MULS = {operator.mul, torch.mul, operator.imul}
SUBS = {operator.sub, torch.sub, operator.isub}


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


# torchvision's detection models and parts whose forward loops over images or feature dicts,
# and what `cnn` has in their place.
DETECTION = {
    "RetinaNet": "the network is `cnn::models::retinanet_resnet50_fpn!`",
    "FCOS": "the network is `cnn::models::fcos_resnet50_fpn!`",
    "SSD": "the network is `cnn::models::ssdlite320_mobilenet_v3_large!`",
    "FasterRCNN": "for its MobileNetV3-Large FPN form the two networks are `cnn::models::fasterrcnn_mobilenet_v3_large_fpn!`",
    "FeaturePyramidNetwork": "write it with `let`, `from` and `output` (see the DSL's \"Several outputs\")",
    "BackboneWithFPN": "write it with `let`, `from` and `output` (see the DSL's \"Several outputs\")",
}


def detection_hint(module):
    """For a torchvision detection model or part: where `cnn` has it. Their forward (a list of
    images, a dict of levels, the post-processing) is Python the DSL leaves to `cnn::detect`."""
    name = type(module).__name__
    if name not in DETECTION or not type(module).__module__.startswith("torchvision."):
        return ""
    return (f"\n  torchvision's {name} runs Python over its images and levels; {DETECTION[name]}, with the transform, "
            "anchors and post-processing in `cnn::detect`")


class ModuleGraph:
    """One module's traced forward, read back into items."""

    def __init__(self, conv, module, path, example):
        self.conv, self.module, self.prefix = conv, module, path
        # How errors name the module: its path, or its class for the top one.
        self.path = f"`{path}`" if path else f"`{type(module).__name__}` (the top module)"
        tracer = ChildrenAsLeaves(module, conv.inline, forward_inputs(module, example))
        for sub in module.modules():
            if id(sub) in conv.inline:
                conv.visited.add(id(sub))
        concrete = concrete_args(module, example)
        try:
            self.graph = tracer.trace(module, concrete_args=concrete or None)
        except Exception as e:  # noqa: BLE001  (any failure of tracing is the user's to see)
            frames = [(f.filename, f.lineno, f.line or "") for f in traceback.extract_tb(e.__traceback__)]
            raise Refusal(self.path, type(module).__name__, f"cannot be traced with torch.fx: {e}{detection_hint(module)}",
                          user_frame(frames))
        self.gm = fx.GraphModule(module, self.graph)
        # Every node's value on the example input, as the tracer ran it: shapes for the ops that
        # need them, and the numbers computed from shapes (`F.avg_pool2d(x, x.size(3))`).
        self.values = tracer.values
        # Called with a list of tensors alone (DenseNet's layers, SelecSLS's `SelectSeq`), the
        # module reads their concatenation: each tensor's channels, for `x[k]`.
        first = example[0][0] if example is not None and example[0] else None
        self.listed = [t.shape[1] for t in first] if isinstance(first, list) and all(
            isinstance(t, torch.Tensor) and t.dim() >= 2 for t in first) else None
        self.used = set()  # the children already written under their names
        self.numeric = any(re.fullmatch(r"\d+", n) for n, _ in module.named_children())

    def arg(self, node, i, key, default=None):
        """An argument of `node`, numbers computed from shapes resolved."""
        return resolved(arg(node, i, key, default), self.values)

    # -- errors ----------------------------------------------------------------------------

    def refuse(self, node, why, op=None):
        raise Refusal(self.path, op or describe(node), why, source_of(node))

    def tangled(self, node, why):
        """A connection that chains and merges do not nest: written with `let` and `from`."""
        raise Tangled(self.path, describe(node), why, source_of(node))

    # -- the graph as values ---------------------------------------------------------------

    def functionalize_in_place(self):
        """An in-place method (`out.mul_(self.skipinit_gain)`, `x.relu_()`) changes the value its
        object holds for every later reader, which torch.fx records as a node nothing reads: the
        later readers of the object read that node instead, so the op is neither lost (a silent
        mis-conversion) nor dropped as dead code."""
        order = {n: i for i, n in enumerate(self.graph.nodes)}
        for n in list(self.graph.nodes):
            if not (n.op == "call_method" and isinstance(n.target, str) and n.target.endswith("_")
                    and not n.target.endswith("__") and n.args and isinstance(n.args[0], fx.Node)):
                continue
            base = n.args[0]
            for u in list(base.users):
                if u is not n and order[u] > order[n]:
                    u.replace_input_with(base, n)

    def prepare(self):
        g = self.graph
        self.functionalize_in_place()
        # Checks of arguments traced as constants (`pre_logits` specialized to False) and of
        # shapes: no computation.
        for n in list(g.nodes):
            if n.op == "call_function" and n.target is torch._assert:
                g.erase_node(n)
        g.eliminate_dead_code()
        placeholders = [n for n in g.nodes if n.op == "placeholder"]
        if not placeholders:
            raise Refusal(self.path, type(self.module).__name__, "its forward takes no input")
        self.input = placeholders[0]
        for extra in placeholders[1:]:
            if extra.users:
                self.refuse(extra, "a forward with more than one input has no DSL form", op=f"input `{extra.target}`")
        self.views = self.param_views()  # each view of a parameter, and the parameter's node
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
        self.refuse_attention()
        self.rewrite_standardized_weights()
        self.refuse_weight_computations()
        self.rewrite_lists()
        self.rewrite_broadcasts()
        self.drop_identities()
        self.rewrite_channel_shuffle()
        self.rewrite_same_tf()
        g.eliminate_dead_code()
        self.nodes = list(g.nodes)
        self.order = {n: i for i, n in enumerate(self.nodes)}
        self.output = next(n for n in self.nodes if n.op == "output")
        out = self.output.args[0]
        # The network's own forward may return several values (a tuple, a list or a dict of
        # them: `IntermediateLayerGetter`'s levels): each is an `output`, named by its key or
        # its position.
        self.results = None
        if not isinstance(out, fx.Node):
            several = list(out.items()) if isinstance(out, dict) else list(enumerate(out)) \
                if isinstance(out, (list, tuple)) else []
            if self.module is not self.conv.model or len(several) < 2 \
                    or not all(isinstance(v, fx.Node) and self.is_value(v) for _, v in several) \
                    or any(v is self.input or v.op == "placeholder" for _, v in several):
                self.refuse(self.output, "the forward returns several values; only the network's own forward "
                            "(the top module's) may, each a tensor computed from the input, as `output`s", op="return")
            self.results = output_names(several)
            out = None
        self.result = out

    def is_value(self, n):
        return isinstance(n, fx.Node) and n.op != "get_attr" and n not in self.meta and n.op != "output" \
            and n not in self.views

    def param_views(self):
        """Views of the module's own tensors (`self.gamma.reshape(1, -1, 1, 1)`): constants of
        the forward, not values flowing through it."""
        views = {}
        for n in self.graph.nodes:
            base = n.args[0] if n.args else None
            if (n.op == "call_method" and n.target in VIEWS or n.op == "call_function" and n.target is torch.reshape) \
                    and isinstance(base, fx.Node) and (base.op == "get_attr" or base in views):
                views[n] = base if base.op == "get_attr" else views[base]
        return views

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

    def refuse_attention(self):
        """Attention is refused at its first product, before anything else the module does, as
        the cause."""
        n = first_attention(self.graph)
        if n is not None:
            self.refuse(n, ATTENTION_WHY)

    def rewrite_standardized_weights(self):
        """Weight standardisation (timm's `ScaledStdConv2d` and `StdConv2d`, or the same written by
        hand): `F.conv2d(x, F.batch_norm(self.weight.reshape(1, out, -1), None, None,
        weight=(self.gain * scale).view(-1), training=True, eps=eps).reshape_as(self.weight), ...)`
        is the DSL's `conv(..., ws=true)`; the convolution reads the module's own weight again, with
        the standardisation noted on it."""
        for conv in list(self.graph.nodes):
            if not (conv.op == "call_function" and conv.target is F.conv2d):
                continue
            bn = arg(conv, 1, "weight")
            if isinstance(bn, fx.Node) and (bn.op == "call_method" and bn.target in ("reshape_as", "view_as", "reshape",
                                                                                     "view")):
                bn = bn.args[0]
            if not (isinstance(bn, fx.Node) and bn.op == "call_function" and bn.target is F.batch_norm):
                continue
            base = self.views.get(bn.args[0]) if isinstance(bn.args[0], fx.Node) else None
            if base is None or base.target != "weight" or arg(bn, 1, "running_mean") is not None \
                    or arg(bn, 2, "running_var") is not None or arg(bn, 4, "bias") is not None \
                    or arg(bn, 5, "training", False) is not True:
                continue
            weight = getattr(self.module, "weight", None)
            if not isinstance(weight, torch.Tensor) or weight.dim() != 4 \
                    or tuple(shape(bn.args[0]) or ()) != (1, weight.shape[0], weight[0].numel()):
                continue
            affine, gamma = arg(bn, 3, "weight"), None
            if affine is not None:
                mul = affine.args[0] if isinstance(affine, fx.Node) and affine.op == "call_method" \
                    and affine.target in ("view", "reshape", "flatten") else None
                if not (isinstance(mul, fx.Node) and mul.op == "call_function" and mul.target in MULS):
                    continue
                gain = [a for a in mul.args if isinstance(a, fx.Node)]
                scale = [a for a in mul.args if isinstance(a, (int, float)) and not isinstance(a, bool)]
                if len(gain) != 1 or len(scale) != 1 or gain[0].op != "get_attr" or gain[0].target != "gain" \
                        or tuple(getattr(self.module, "gain").shape) != (weight.shape[0], 1, 1, 1):
                    continue
                # `gamma` as written (1.0, not the 0.9999999999999999 that `scale` gives back).
                gamma = float(repr_f32(float(scale[0]) * weight[0].numel() ** 0.5))
            conv.meta["ws"] = (float(arg(bn, 7, "eps", 1e-5)), gamma)
            conv.args = (conv.args[0], base) + tuple(conv.args[2:])
            # The standardisation's ops, read by nothing now, go.
            self.graph.eliminate_dead_code()

    def refuse_weight_computations(self):
        """A tensor computed from the module's own tensors alone (timm's `ScaledStdConv2d`
        standardizes its weight with `F.batch_norm(self.weight.reshape(...))` before `F.conv2d`):
        a reparametrized weight, refused as the cause, not its first op the DSL lacks."""
        from_input = set()
        for n in self.graph.nodes:
            if n.op == "placeholder" or any(a in from_input for a in n.all_input_nodes):
                from_input.add(n)
        for n in self.graph.nodes:
            if n.op in ("call_function", "call_method", "call_module") and n not in from_input \
                    and n not in self.views and n not in self.meta and n.all_input_nodes \
                    and any(a.op == "get_attr" or a in self.views for a in n.all_input_nodes) \
                    and any(self.is_value(u) for u in n.users):
                self.refuse(n, "its forward computes a tensor from the module's own weights (a reparametrized "
                               "weight, such as weight standardisation): the DSL's layers use their tensors as they are")

    def rewrite_broadcasts(self):
        """`y.expand_as(x)` / `y.expand(...)` of a per-channel value `[N, C, 1, 1]` before a
        product (ECA's `x * y.expand_as(x)`): broadcasting does it, so the expansion is `y`."""
        for n in list(self.graph.nodes):
            if n.op == "call_method" and n.target in ("expand_as", "expand") and isinstance(n.args[0], fx.Node):
                sy, sx = shape(n.args[0]), shape(n)
                if sy and sx and len(sy) == 4 and len(sx) == 4 and sy[:2] == sx[:2] and sy[2:] == (1, 1):
                    self.replace(n, n.args[0])

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

    def rewrite_same_tf(self):
        """`F.pad` by TensorFlow's 'SAME' amounts, then `F.conv2d` on the module's own weight
        without padding (timm's `Conv2dSame`, `pad_same` then `conv2d`): one `conv(..., p=same_tf)`,
        which pads by the rule for any input size rather than by this input's numbers."""
        for n in list(self.graph.nodes):
            if not (n.op == "call_function" and n.target is F.pad and len(n.users) == 1):
                continue
            conv = next(iter(n.users))
            s = shape(n.args[0]) if isinstance(n.args[0], fx.Node) else None
            pads = resolved(arg(n, 1, "pad"), self.values)
            if not (conv.op == "call_function" and conv.target is F.conv2d and arg(conv, 0, "input") is n) or s is None \
                    or arg(n, 2, "mode", "constant") != "constant" or arg(n, 3, "value", 0.0) not in (0, 0.0, None):
                continue
            weight = arg(conv, 1, "weight")
            if not (isinstance(weight, fx.Node) and weight.op == "get_attr"):
                continue
            k = tuple(getattr(self.module, weight.target).shape[2:])
            stride = pair_of(resolved(arg(conv, 3, "stride", 1), self.values))
            dilation = pair_of(resolved(arg(conv, 5, "dilation", 1), self.values))
            padding = pair_of(resolved(arg(conv, 4, "padding", 0), self.values))
            if padding != (0, 0) or tuple(pads or ()) != same_tf_pads(s[2:], k, stride, dilation):
                continue
            conv.meta["same_tf"] = True
            self.replace(n, n.args[0])

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
        # The children a walk wrote and the refusals it made: a walk that gives up leaves none.
        used, refusals = set(self.used), len(self.conv.errors)
        self.walked = set()  # the ops the walk wrote
        try:
            if self.results is not None:
                # Several outputs are values read again after the chain: written op by op.
                raise Tangled(self.path, "return", "several outputs")
            items = self.walk(self.input, self.result, None)
        except Tangled:
            self.used = used
            del self.conv.errors[refusals:]
            items = self.dag()
        for it in items:
            if it.name is None and self.numeric and not is_value_step(it):
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
                    if u in self.walked:
                        # The walk came to this op a second time: branches that share it.
                        self.tangled(u, "its inputs share computation (not a nesting of chains and merges)")
                    self.walked.add(u)
                    if self.is_chunk(u):
                        item, v = self.split(v, u)
                        items.append(item)
                    else:
                        items.extend(self.op(u))
                        v = u
                    continue
            j = self.join_of(v)
            if j is None or j.op == "output":
                self.tangled(users[0], "its result is not joined with the rest (a second output?)")
            items.append(self.merge(v, j))
            v = j
        return items

    def dag(self):
        """The forward as it is written, one op after another: each value read again later is
        named by `let`, and read by `from` where the op before was not its maker; merges read
        their operands by name (`_: sum { from a from b }`)."""
        from .blocks import RESERVED  # noqa: PLC0415  (blocks imports this module)

        order = [n for n in self.nodes if self.is_value(n) and n.op != "placeholder" and not self.is_chunk(n)]
        position = {n: i for i, n in enumerate(order)}
        names = {}
        items = []
        current = self.input

        # `output NAME` binds NAME too: no `let` may take it.
        taken = {name for name, _ in self.results or []}

        def name_of(v):
            if v not in names:
                base = re.sub(r"\W", "_", v.name if v is not self.input else "input").lower()
                base = base if re.match(r"[a-z]", base) else "v_" + base
                text, k = base, 2
                while text in names.values() or text in taken or text in RESERVED \
                        or not rust_quote.is_identifier(text):
                    text, k = f"{base}_{k}", k + 1
                names[v] = text
            return names[v]

        def read_again(v):
            # Read by anything but the op right after it (which reads it as the current value).
            at = position.get(v, -1)
            return any(u.op == "output" or position.get(u) != at + 1 for u in self.users(v))

        # Outputs returned in the order they are computed are written where they are computed
        # (`output NAME` binds NAME for later reads too); others at the end, in return order.
        at_end = self.results or []
        if self.results and [position[v] for _, v in self.results] == sorted(position[v] for _, v in self.results):
            names.update((v, name) for name, v in self.results)
            at_end = []
        outputs_here = {v for _, v in self.results or []} - {v for _, v in at_end}
        if read_again(self.input):
            items.append(Item("let", args=name_of(self.input)))
        for u in order:
            ins = self.value_inputs(u)
            if self.is_chunk_part(u):
                source = self.value_inputs(ins[0])[0]
                if source is not current:
                    items.append(Item("from", args=name_of(source)))
                items.append(self.chunk_part(u))
            elif len(ins) == 1:
                if ins[0] is not current:
                    items.append(Item("from", args=name_of(ins[0])))
                items.extend(self.op(u))
            else:
                kind = self.merge_kind(u)
                if kind is None:
                    self.refuse(u, "values are joined by an op the DSL has no merge for")
                # Each op is written as it is: `(a + b) + c` is two sums, the first already out.
                operands = ins
                if kind == "mul" and len(operands) == 2:
                    sa, sb = shape(operands[0]), shape(operands[1])
                    if sa and sb and sa != sb and sa[2:] == (1, 1):
                        operands = operands[::-1]  # the factor second
                word = {"add": "sum", "cat": "cat", "mul": "mul", "sub": "sub"}[kind]
                items.append(Item(word, name="_", body=[
                    named(layer("identity"), "_") if a is current else Item("from", args=name_of(a)) for a in operands]))
            current = u
            if u in outputs_here:
                items.append(Item("output", args=names[u]))
            elif read_again(u):
                items.append(Item("let", args=name_of(u)))
        if self.results is not None:
            for name, v in at_end:
                if v is not current:
                    items.append(Item("from", args=name_of(v)))
                items.append(Item("output", args=name))
                current = v
        elif self.result is not current:
            items.append(Item("from", args=name_of(self.result)))
        # A `let` that nothing reads says nothing.
        read = {it.args for it in walk_items(items) if it.kind == "from"}
        return [it for it in items if it.kind != "let" or it.args in read]

    def is_chunk_part(self, n):
        return n.op == "call_function" and n.target is operator.getitem and isinstance(n.args[0], fx.Node) \
            and self.is_chunk(n.args[0])

    def chunk_part(self, n):
        """Part `k` of `torch.split(x, sizes, 1)` / `x.chunk(n, 1)`: `narrow(1, offset, size)`."""
        split, k = n.args[0], n.args[1]
        parts = split.meta.get("shapes")
        s = shape(self.value_inputs(split)[0])
        dim = self.arg(split, 2, "dim", 0)
        if parts is None or s is None or norm_dim(dim, s) != 1 or not isinstance(k, int):
            self.refuse(split, "a split along a dimension other than the channels (dim=1)")
        k = k % len(parts)
        return narrow(sum(p[1] for p in parts[:k]), parts[k][1])

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
            self.tangled(j, "its inputs share computation (not a nesting of chains and merges)")
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
            self.tangled(j, "its inputs share computation (not a nesting of chains and merges)")
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
        if kind == "sub":
            sa, sb = shape(ins[0]), shape(ins[1])
            if sa != sb:
                self.refuse(j, f"a difference of {list(sa[1:])} and {list(sb[1:])}: `sub` takes two values of one shape")
            return Item("sub", name="_", body=[self.as_branch(b) for b in branches])
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
        if j.op == "call_function" and j.target in SUBS or j.op == "call_method" and j.target in ("sub", "sub_"):
            if j.kwargs.get("alpha", 1) != 1:
                self.refuse(j, "a difference with `alpha` has no DSL form")
            return "sub"
        if self.is_cat(j):
            if norm_dim(self.arg(j, 1, "dim", 0), shape(j)) != 1:
                self.refuse(j, "a concatenation along a dimension other than the channels (dim=1)")
            return "cat"
        return None

    def is_chunk(self, n):
        return (n.op == "call_method" and n.target in ("chunk", "split")) or (
            n.op == "call_function" and n.target in (torch.chunk, torch.split))

    def split(self, v, u):
        """`x.chunk(n, 1)` / `torch.split(x, sizes, 1)`, each chunk through a branch, joined by
        `torch.cat`: a `split` (with its sizes when they differ)."""
        dim = self.arg(u, 2, "dim", 0)
        s, chunks = shape(v), u.meta.get("shapes")
        if s is None or chunks is None or norm_dim(dim, s) != 1:
            self.refuse(u, "a chunk along a dimension other than the channels (dim=1)")
        parts = sorted(u.users, key=lambda g: g.args[1] if g.target is operator.getitem else -1)
        if any(p.target is not operator.getitem for p in parts):
            self.tangled(u, "its chunks are used other than one by one")
        count = len(chunks)
        if len(parts) != count or [p.args[1] for p in parts] != list(range(count)):
            self.tangled(u, "its chunks are not each used once")
        j = self.join_of(u)
        if j is None or not self.is_cat(j):
            self.tangled(u, "its chunks are not joined by `torch.cat` on the channels")
        ins = self.value_inputs(j)
        if len(ins) != count:
            self.tangled(j, "the concatenation does not join exactly the chunks' branches")
        branches = []
        for p, a in zip(parts, ins):
            if a is p:
                branches.append(layer("identity"))
            elif not self.reaches(p, a, j):
                self.tangled(j, "the chunks' branches are joined in another order than the chunks'")
            else:
                branches.append(self.as_branch(self.walk(p, a, None)))
        sizes = [c[1] for c in chunks]
        args = "" if len(set(sizes)) == 1 else ", ".join(num(c, "c") for c in sizes)
        return Item("split", args, name="_", body=branches), j

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
            if f in ADDS and any(isinstance(a, (int, float)) and a == 0 for a in n.args[:2]):
                return []  # `out = 0; out += branch(x)`: timm's MobileOne with a branch left out
            if f in MULS and any(isinstance(a, (int, float)) and a == 1 for a in n.args[:2]):
                return []
            if f in MULS:
                return self.scale(n)
            if f in (operator.truediv, torch.div) and len(n.args) == 2 and isinstance(n.args[1], (int, float)) \
                    and not isinstance(n.args[1], bool) and n.args[1] != 0 and not n.kwargs:
                return [layer("scale", "by=" + num(1.0 / float(n.args[1]), "by"))]  # `(x1 + x2) / 2`
            if f is F.interpolate:
                return [self.layer_of(n, lambda: upsample_layer(
                    self.arg(n, 1, "size"), self.arg(n, 2, "scale_factor"), self.arg(n, 3, "mode", "nearest"),
                    self.arg(n, 4, "align_corners"), self.arg(n, 5, "recompute_scale_factor"),
                    self.arg(n, 6, "antialias", False)))]
            if f is F.pad:
                return [self.layer_of(n, lambda: pad_layer(self.arg(n, 1, "pad"), self.arg(n, 2, "mode", "constant"),
                                                           self.arg(n, 3, "value", 0.0)))]
            if f in OWN_TENSORS:
                return [self.own_layer(n, f)]
            if f is operator.getitem and n.args[0] is self.input and self.listed and isinstance(n.args[1], int):
                k = n.args[1] % len(self.listed)
                return [narrow(sum(self.listed[:k]), self.listed[k])]
            if f is operator.getitem:
                return [self.slice_layer(n)]
            if f is torch.narrow:
                return [self.narrow_layer(n, self.arg(n, 1, "dim"), self.arg(n, 2, "start"), self.arg(n, 3, "length"))]
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
            if m == "narrow":
                return [self.narrow_layer(n, self.arg(n, 1, "dim"), self.arg(n, 2, "start"), self.arg(n, 3, "length"))]
        self.refuse(n, "the DSL has no layer for it")

    def narrow_layer(self, n, dim, start, length):
        s = shape(self.value_inputs(n)[0])
        if s is None or norm_dim(dim, s) != 1:
            self.refuse(n, f"a narrowing of dim {dim}: the DSL narrows the channels (dim 1)")
        return narrow(int(start) % s[1] if start < 0 else int(start), int(length))

    def slice_layer(self, n):
        """`x[:, a:b]` (`x[:, a:b, :, :]`, `x[:, a:b, ...]`): `narrow(1, a, b - a)`."""
        s = shape(self.value_inputs(n)[0])
        index = n.args[1]
        index = index if isinstance(index, tuple) else (index,)
        whole = slice(None, None, None)
        rest = [i for i in index[2:] if i is not Ellipsis]
        if s is None or len(index) < 2 or index[0] != whole or not isinstance(index[1], slice) \
                or any(i != whole for i in rest) or index[1].step not in (None, 1):
            self.refuse(n, "an indexing other than a slice of the channels (`x[:, a:b]`)")
        start, stop, _ = index[1].indices(s[1])
        if stop <= start:
            self.refuse(n, f"an empty slice of the channels ({index[1]})")
        return narrow(start, stop - start)

    def own_layer(self, n, f):
        """A functional layer on the module's own tensors (`F.batch_norm(x, self.running_mean, ...)`
        in timm's `BatchNormAct2d`, `F.linear(x, self.weight, self.bias)` in its `Linear`): the
        DSL's layer, named `_` so that its tensors are keyed by the module, as PyTorch keys them."""
        kind, slots = OWN_TENSORS[f]
        given = {}
        for i, (key, want) in enumerate(slots):
            a = None if key is None else arg(n, i + 1, key)
            if a is None:
                continue
            if not (isinstance(a, fx.Node) and a.op == "get_attr" and a.target == want):
                self.refuse(n, f"its `{key}` is not the module's own `self.{want}`: the DSL keys a layer's tensors "
                               f"as {', '.join(w for _, w in slots if w)} of the module that calls it")
            given[want] = getattr(self.module, want)
        m, weight = self.module, given.get("weight")
        if kind == "batchnorm":
            stats = given.get("running_mean")
            if stats is not None and "num_batches_tracked" not in dict(m.named_buffers(recurse=False)):
                self.refuse(n, "the module tracks running statistics without `num_batches_tracked`, which the DSL's "
                               "batch norm keys beside them")
            ref = stats if stats is not None else weight
            if ref is None:
                self.refuse(n, "a batch norm without weights or running statistics: its channels are unknown")
            args = [num(ref.shape[0], "c")]
            eps = float(self.arg(n, 7, "eps", 1e-5))
            if eps != 1e-5:
                args.append("eps=" + num(eps, "eps"))
            # Eval mode passes the momentum along; a `_BatchNorm` has its own (None included).
            momentum = m.momentum if isinstance(m, nn.modules.batchnorm._BatchNorm) else self.arg(n, 6, "momentum", 0.1)
            if momentum is None:
                args.append("momentum=None")
            elif momentum != 0.1:
                args.append("momentum=" + num(float(momentum), "momentum"))
            if weight is None:
                args.append("affine=false")
            if stats is None:
                args.append("track_running_stats=false")
            return named(layer("batchnorm", ", ".join(args)), "_")
        if kind == "groupnorm":
            # F.group_norm(x, num_groups, self.weight, self.bias, eps): timm's GroupNorm, GroupNormAct.
            if ("weight" in given) != ("bias" in given):
                self.refuse(n, "a group norm with a weight and no bias (or a bias and no weight) has no DSL form")
            s = shape(self.value_inputs(n)[0])
            args = [num(int(self.arg(n, 1, "num_groups")), "groups"), num(s[1], "c")]
            eps = float(self.arg(n, 4, "eps", 1e-5))
            if eps != 1e-5:
                args.append("eps=" + num(eps, "eps"))
            if weight is None:
                args.append("affine=false")
            return named(layer("groupnorm", ", ".join(args)), "_")
        if kind == "linear":
            args = [num(weight.shape[1], "fin"), num(weight.shape[0], "fout")]
            if "bias" not in given:
                args.append("bias=false")
            return named(layer("linear", ", ".join(args)), "_")
        # F.conv2d(x, self.weight, self.bias, stride, padding, dilation, groups)
        if weight.dim() != 4:
            self.refuse(n, f"a convolution with a {weight.dim()}-D weight: the DSL convolves 2-D maps")
        groups = int(self.arg(n, 6, "groups", 1))
        padding = "same_tf" if n.meta.get("same_tf") else self.arg(n, 4, "padding", 0)
        conv = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]),
                         stride=self.arg(n, 3, "stride", 1), padding=0 if padding == "same_tf" else padding,
                         dilation=self.arg(n, 5, "dilation", 1), groups=groups, bias="bias" in given, device="meta")
        if padding == "same_tf":
            conv.padding = "same_tf"  # written as the DSL's word
        item = conv_layer(conv)
        if n.meta.get("ws"):
            eps, gamma = n.meta["ws"]
            ws = ["ws=true", "ws_eps=" + num(eps, "eps")]
            if gamma is None:
                ws.append("ws_gain=false")
            elif gamma != 1.0:
                ws.append("ws_gamma=" + num(gamma, "gamma"))
            item.args += ", " + ", ".join(ws)
        return named(item, "_")

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
        if s_out[0] == s_in[0] and 3 <= len(s_out) <= 4:
            # Per sample, in the same (contiguous) order: `x.view(N, 1, -1)` is `view(1, C)`.
            return [layer("view", ", ".join(num(d, "size") for d in s_out[1:]))]
        self.refuse(n, f"a view from {list(s_in)} to {list(s_out)}: the DSL views one sample as [F], [C, L] or "
                       "[C, H, W], the batch kept")

    def mean(self, n, dims, keepdim):
        s_in = shape(self.value_inputs(n)[0])
        dims = [dims] if isinstance(dims, int) else list(dims or [])
        if s_in is None or len(s_in) != 4 or sorted(norm_dim(d, s_in) for d in dims) != [2, 3]:
            self.refuse(n, "a mean over other dimensions than the spatial ones ([2, 3])")
        return [layer("global_avgpool")] if keepdim else [layer("global_avgpool"), layer("flatten")]

    def scale(self, n):
        """`param * x` with a learned parameter of the module: `scale`, keyed by the parameter."""
        numbers = [a for a in n.args[:2] if isinstance(a, (int, float)) and not isinstance(a, bool)]
        if len(numbers) == 1:
            # `x * self.beta` with a number: NF-ResNet's constants.
            return [layer("scale", "by=" + num(float(numbers[0]), "by"))]
        attrs = [self.views.get(a, a) for a in n.args if isinstance(a, fx.Node) and (a.op == "get_attr" or a in self.views)]
        if len(attrs) != 1:
            self.refuse(n, "a product with a constant tensor has no DSL form")
        p = self.gm.get_parameter(attrs[0].target) if attrs[0].target in dict(self.gm.named_parameters()) else None
        s = shape(self.value_inputs(n)[0])
        # `[C, 1, 1]` as torchvision keeps ConvNeXt's layer scale, `[C]` viewed so (timm's), or one
        # 0-dimensional factor (NFNet's `skipinit_gain`).
        if p is None or s is None or (p.dim() != 0 and (len(s) != 4 or tuple(p.shape) not in ((s[1], 1, 1), (s[1],)))):
            self.refuse(n, "only a learned per-channel factor ([C, 1, 1], or [C] viewed so) or a learned scalar is a "
                           "DSL layer (`scale`)")
        values = p.detach().flatten()
        init = 1.0
        if bool((values == values[0]).all()):
            # A float32's shortest spelling (`1e-6`, not `9.99999997e-7`).
            init = float(repr_f32(values[0].item())) if values.dtype == torch.float32 else values[0].item()
        init_arg = "" if init == 1.0 else ", init=" + num(init, "init")
        if p.dim() == 0:
            return [named(layer("scale", "scalar=true" + init_arg), attrs[0].target)]
        args = num(s[1], "c") + init_arg
        if p.dim() == 1:
            args += ", flat=true"
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


# Functional layers that read the calling module's own tensors: the DSL kind, and each tensor
# argument (after the input) with the attribute it must be, so that the keys are PyTorch's.
OWN_TENSORS = {
    F.batch_norm: ("batchnorm", [("running_mean", "running_mean"), ("running_var", "running_var"),
                                 ("weight", "weight"), ("bias", "bias")]),
    F.linear: ("linear", [("weight", "weight"), ("bias", "bias")]),
    F.group_norm: ("groupnorm", [(None, None), ("weight", "weight"), ("bias", "bias")]),
    F.conv2d: ("conv", [("weight", "weight"), ("bias", "bias")]),
}


ATTENTION_WHY = ("attention (a product of two computed values, such as queries and keys) has no DSL form: the "
                 "DSL's networks are convolutional")


def first_attention(graph):
    """The first product of two computed values in `graph` (`q @ k.transpose(-2, -1)`,
    `torch.bmm`, `einsum`, `F.scaled_dot_product_attention`), or None."""
    for n in graph.nodes:
        products = n.op == "call_function" and n.target in ATTENTION or (
            n.op == "call_method" and n.target in ("matmul", "bmm", "baddbmm"))
        computed = [a for a in n.all_input_nodes if a.op != "get_attr"]
        if products and len(computed) >= 2:
            return n
    return None


def attention_in(module, path, example, inline):
    """The refusal of attention in `module`'s own forward (traced as the conversion traces it),
    or None; a module that does not trace has none that can be named."""
    try:
        graph = ChildrenAsLeaves(module, inline, forward_inputs(module, example)).trace(
            module, concrete_args=concrete_args(module, example) or None)
    except Exception:  # noqa: BLE001  (its own refusal says why, when it is reached)
        return None
    n = first_attention(graph)
    if n is None:
        return None
    return Refusal(f"`{path}`", describe(n), ATTENTION_WHY, source_of(n))


def forward_params(module):
    """The parameters of `module`'s forward, but `*args` and `**kwargs`."""
    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def forward_inputs(module, example):
    """The arguments of `module`'s forward on the example input (`(args, kwargs)`, or None when
    it was not called), by parameter name, defaults filled in."""
    args, kwargs = example if example is not None else ((), {})
    params = forward_params(module)
    named = {p.name: a for p, a in zip(params, args)}
    named.update(kwargs)
    for p in params:
        if p.name not in named and p.default is not p.empty:
            named[p.name] = p.default
    return named


def concrete_args(module, example):
    """The arguments of `module`'s forward after the first that are no tensors, as the module
    was called on the example input (or their defaults): traced as constants, so that a forward
    that branches on them (timm's `ClassifierHead(x, pre_logits=False)`) traces."""
    inputs = forward_inputs(module, example)
    return {p.name: inputs[p.name] for p in forward_params(module)[1:]
            if p.name in inputs and not isinstance(inputs[p.name], (torch.Tensor, list, tuple, dict))}


class Tangled(Refusal):
    """Values joined in a way chains and merges do not nest: the module is written op by op."""


def is_value_step(item):
    """`let NAME` / `from NAME` / `output NAME`: no layer, no key."""
    return item.kind in ("let", "from", "output") and item.body is None


def output_names(values):
    """`(key, node)` pairs of the values a forward returns as `(name, node)`, each name the key
    where it is a plain lowercase identifier that no DSL word or Rust keyword takes, otherwise
    `out_KEY` (`'0'` -> `out_0`), made unique."""
    from .blocks import RESERVED  # noqa: PLC0415  (blocks imports this module)

    out, used = [], set()
    for key, v in values:
        base = re.sub(r"\W", "_", str(key)).lower()
        if not re.match(r"[a-z]", base) or base in RESERVED or not rust_quote.is_identifier(base):
            base = f"out_{base}".rstrip("_")
        text, k = base, 2
        while text in used:
            text, k = f"{base}_{k}", k + 1
        used.add(text)
        out.append((text, v))
    return out


def walk_items(items):
    for it in items:
        yield it
        yield from walk_items(it.body or [])
        if it.shortcut is not None:
            yield from walk_items([it.shortcut])


def blank_inner(item):
    """Items written for a forward's calls inside a merge (keyed under the module, beside the
    merge's other items and the module's own) have no key of their own, so that two branches'
    `relu`s do not both claim one position; a child module's items are its own."""
    if item.module is not None:
        return
    for inner in (item.body or []) + ([item.shortcut] if item.shortcut is not None else []):
        if inner.name is None and not is_value_step(inner):
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


def narrow(start, length):
    """Channels `start..start + length`: `narrow(1, start, length)`."""
    return layer("narrow", f"1, {num(start, 'start')}, {num(length, 'len')}")


def repr_f32(v):
    """The shortest decimal that is the same float32 as `v`."""
    for digits in range(1, 10):
        text = f"{v:.{digits}g}"
        if torch.tensor(float(text), dtype=torch.float32).item() == torch.tensor(v, dtype=torch.float32).item():
            return text
    return repr(v)


def pair_of(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def same_tf_pads(size, k, stride, dilation):
    """TensorFlow's 'SAME' padding of an `(h, w)` input, as `F.pad` takes it: `(left, right,
    top, bottom)`."""
    out = []
    for i in (1, 0):
        total = max((math.ceil(size[i] / stride[i]) - 1) * stride[i] + (k[i] - 1) * dilation[i] + 1 - size[i], 0)
        out += [total // 2, total - total // 2]
    return tuple(out)


def shape(n):
    return n.meta.get("shape") if isinstance(n, fx.Node) else None


def norm_dim(d, s):
    if d is None:
        return None
    nd = len(s) if s else 4
    return d % nd if d < 0 else d


def record(n, result, values):
    """Keeps what the conversion reads of node `n`'s value: a tensor's shape (`meta["shape"]`),
    the shapes of several (`meta["shapes"]`, a split's parts), or a number in `values`."""
    if isinstance(result, torch.Tensor):
        n.meta["shape"] = tuple(result.shape)
    elif isinstance(result, (tuple, list)) and result and all(isinstance(t, torch.Tensor) for t in result):
        n.meta["shapes"] = [tuple(t.shape) for t in result]
    elif isinstance(result, (int, float, torch.Size)) or (
        isinstance(result, tuple) and all(isinstance(v, int) for v in result)
    ):
        values[n] = result


class ShapedProxy(fx.Proxy):
    """A traced value that knows the value it has on the example input: its shape, size and
    number of dimensions are numbers, not traced values, so that a forward that branches on them
    (`if x.shape[-2] < self.kernel_size`, timm's `pad_same`'s `math.ceil(ih / s)`) traces as it
    runs for the network's input size. The network's sizes are fixed at compile time, so this
    is exactly what the converted network computes."""

    concrete = None

    @property
    def shape(self):
        if isinstance(self.concrete, torch.Tensor):
            return self.concrete.shape
        return self.__getattr__("shape")

    @property
    def ndim(self):
        if isinstance(self.concrete, torch.Tensor):
            return self.concrete.dim()
        return self.__getattr__("ndim")

    def size(self, dim=None):
        if isinstance(self.concrete, torch.Tensor):
            return self.concrete.size() if dim is None else self.concrete.size(dim)
        return self.__getattr__("size")() if dim is None else self.__getattr__("size")(dim)

    def dim(self):
        if isinstance(self.concrete, torch.Tensor):
            return self.concrete.dim()
        return self.__getattr__("dim")()


class ChildrenAsLeaves(fx.Tracer):
    """Traces one module, with each child module called as it is (a leaf), but for the modules
    in `inline` (by id): those called with several tensors (a U-Net's `Up(x, skip)`), whose
    forward joins values of the caller, so their code is traced into the caller's, their own
    children keyed by their paths (`up.conv`). Given the forward's arguments on the example
    input (`inputs`, by parameter name), each traced value also runs on them: shapes are
    numbers ([`ShapedProxy`])."""

    def __init__(self, root, inline=frozenset(), inputs=None):
        super().__init__()
        self.root_module = root
        self.inline = inline
        self.inputs = inputs or {}
        self.values = {}  # numbers computed on the example (see `record`)
        self.record_stack_traces = True

    def is_leaf_module(self, m, qualname):
        return m is not self.root_module and id(m) not in self.inline

    # While an op runs on the example's values, modules and attributes are what they are: the
    # tracer's patches of `nn.Module.__call__` and `__getattr__` would trace them instead.
    running = False

    def call_module(self, m, forward, args, kwargs):
        if self.running:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if self.running:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def proxy(self, node):
        return ShapedProxy(node, self)

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        p = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        if isinstance(p, ShapedProxy):
            try:
                p.concrete = self.run(kind, target, args, kwargs)
            except Exception:  # noqa: BLE001  (no value: its shape stays a traced value)
                p.concrete = None
            else:
                record(p.node, p.concrete, self.values)
        return p

    def run(self, kind, target, args, kwargs):
        """The op's value on the example input, from its arguments' values."""
        def value(a):
            if isinstance(a, ShapedProxy):
                if a.concrete is None:
                    raise LookupError("an argument without a value")
                return a.concrete
            return a
        args = fx.node.map_aggregate(args, value)
        kwargs = fx.node.map_aggregate(kwargs, value)
        self.running = True
        try:
            return self.run_op(kind, target, args, kwargs)
        finally:
            self.running = False

    def run_op(self, kind, target, args, kwargs):
        with torch.no_grad():
            if kind == "placeholder":
                name = target.lstrip("*")
                if name not in self.inputs:
                    raise LookupError(name)
                return self.inputs[name]
            if kind == "get_attr":
                obj = self.root_module
                for part in target.split("."):
                    obj = getattr(obj, part)
                return obj
            if kind == "call_function":
                return target(*args, **kwargs)
            if kind == "call_method":
                return getattr(args[0], target)(*args[1:], **kwargs)
            if kind == "call_module":
                return self.root_module.get_submodule(target)(*args, **kwargs)
        raise LookupError(kind)
