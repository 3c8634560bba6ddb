"""The whole module: its children traced, read back into items, refusals collected."""

import torch

from .errors import Refusal, source_of
from .dsl import Item, named
from .modules import has_state, is_layer_subclass, is_sequential, leaf_layer
from .trace import ModuleGraph, attention_in, name_text


class Converter:
    def __init__(self, model, example):
        self.model = model
        self.errors = []
        self.inputs = {}
        self.several_out = set()  # modules returning several tensors
        hooks = []
        for m in model.modules():
            hooks.append(m.register_forward_pre_hook(self.record, with_kwargs=True))
            hooks.append(m.register_forward_hook(self.record_output))
        try:
            with torch.no_grad():
                model(example)
        finally:
            for h in hooks:
                h.remove()
        # Modules called with several tensors join values of their caller: traced into it. So is
        # one called with a tensor and a list of more (DLA's `tree2(x1, None, children)`); one
        # called with a list alone reads its concatenation (DenseNet's layers).
        def joins(args, kwargs):
            values = list(args) + list(kwargs.values())
            plain = sum(isinstance(a, torch.Tensor) for a in values)
            listed = sum(isinstance(t, torch.Tensor) for a in values if isinstance(a, (list, tuple)) for t in a)
            return plain > 1 or (plain >= 1 and listed >= 1)

        # So is one returning several tensors (SelecSLS's blocks pass `[x, skip]` along).
        self.inline = frozenset(k for k, (args, kwargs) in self.inputs.items()
                                if k != id(model) and (joins(args, kwargs) or k in self.several_out))

    def record_output(self, m, args, output):
        # PyTorch's own modules (`nn.LSTM`'s `(output, (h, c))`) are layers or refused as they are.
        if isinstance(output, (list, tuple)) and sum(isinstance(t, torch.Tensor) for t in output) > 1 \
                and not type(m).__module__.startswith("torch."):
            self.several_out.add(id(m))

    def record(self, m, args, kwargs):
        """The arguments of a module's first call: `(args, kwargs)`."""
        # A copy of a list argument: the caller may append to it later (DenseNet's features).
        args = tuple(list(a) if isinstance(a, list) else a for a in args)
        self.inputs.setdefault(id(m), (args, dict(kwargs)))

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

    def refused(self, m, refusal, path=""):
        """Records a refusal of module `m`: its children are then accounted for, so that the
        check for unused weights does not report them too (with a false reason and fix). Attention
        in a module below it, never reached now, is the real cause: it is said first."""
        for sub_path, sub in m.named_modules(prefix=path):
            if sub is not m and id(sub) not in self.visited:
                found = attention_in(sub, sub_path, self.inputs.get(id(sub)), self.inline)
                if found is not None:
                    self.errors.append(found)
                    break
        self.errors.append(refusal)
        self.visited.update(id(d) for d in m.modules())

    def module_item(self, m, path, name, node=None):
        """The item for module `m` called as `name`."""
        self.visited.add(id(m))
        where = source_of(node) if node else None
        try:
            leaf = leaf_layer(m)
        except ValueError as e:
            self.refused(m, Refusal(f"`{path}`", type(m).__name__, str(e), where), path)
            return Item("identity", name=name)
        if leaf is not None:
            return named(leaf, name)
        # A subclass of a layer the DSL has, with a forward of its own (timm's `BatchNormAct2d`,
        # `Linear`), converts by what that forward computes: it is traced as any module is; so
        # does a module of a library or a user with tensors of its own (timm's layer scales,
        # `x * self.gamma.view(1, -1, 1, 1)`). PyTorch's own other modules (`nn.LSTM`) are not.
        if not any(True for _ in m.children()) and not is_layer_subclass(m) and type(m).__module__.startswith("torch."):
            self.refused(m, Refusal(f"`{path}`", f"{type(m).__module__}.{type(m).__name__}",
                                    "the DSL has no layer for this module", where), path)
            return Item("identity", name=name)
        body = self.module_items(m, path)
        if len(body) == 1 and body[0].name == "_" and body[0].body is None:
            # Its forward is one layer on its own tensors: that layer, under the module's name.
            return named(body[0], name)
        return Item("seq", name=name, body=body, module=m)

    def module_items(self, m, path):
        try:
            # A chain, unless a child is traced into it (values pass along as lists).
            if is_sequential(m) and not any(id(c) in self.inline for c in m.children()):
                items = []
                for pos, (child_name, child) in enumerate(m.named_children()):
                    child_path = f"{path}.{child_name}" if path else child_name
                    label = None if child_name == str(pos) else name_text(child_name)
                    items.append(self.module_item(child, child_path, label))
                return items
            return ModuleGraph(self, m, path, self.inputs.get(id(m))).items()
        except Refusal as e:
            self.refused(m, e, path)
            return []
