#!/usr/bin/env python3
"""Generate the PyTorch parity fixtures that tests/layer_parity.rs reads: the layer kinds of
the block IR (batch norm, residual blocks, grouped, dilated and 'same' convolutions, every pool
and activation) and torchvision's ResNet-18 and MobileNetV2.

Small nets ("every", "every2"), written to tests/fixtures/:
  <name>.safetensors        state_dict: PyTorch's default init, then random batch-norm affine
                            parameters and running statistics (so eval mode is not the identity)
  <name>.io.safetensors     "input" [4, C, H, W] and eval-mode "output", computed in float64
  <name>.train.safetensors  for a labelled batch of 8 in train mode: "input", "labels",
                            "loss" (cross-entropy, float64), "grad.<param>" (float64),
                            "running.<buffer>" after that one forward (float64), and
                            "sgd.<tensor>" / "adam.<tensor>" after 2 steps of
                            SGD(lr=0.05, momentum=0.9, weight_decay=0.01) and 3 steps of
                            Adam(lr=0.01, eps=1e-3), in float32 as a user runs them, for every
                            parameter and buffer (num_batches_tracked as int64), and the same
                            steps in float64 as "sgd64.<tensor>" / "adam64.<tensor>".

torchvision nets ("resnet18", "mobilenet_v2"), too large to commit as weights: their weights are
a function of each tensor's name (`seeded` below, mirrored by tests/common/mod.rs), so the files
only hold inputs and results at 3x64x64:
  <name>.io.safetensors     "input" [2, 3, 64, 64], eval-mode "output" in float64 and "output32",
                            PyTorch's own float32 result
  resnet18.train.safetensors a batch of 4 in train mode: "loss"/"loss32", and for every parameter
                            "grad.<p>" / "grad32.<p>" sampled at 64 positions (j * 7919 mod len);
                            "running.<b>" / "running32.<b>" likewise; after 2 steps of
                            SGD(lr=0.01, momentum=0.9, weight_decay=1e-4): "sgd.<t>"/"sgd32.<t>"
                            sampled; after 2 steps of Adam(lr=1e-3, eps=1e-3): "adam.<t>"/"adam32.<t>".
The float64 run is the reference; the float32 one shows how far PyTorch itself is from it, which
is the tolerance a deep net's float32 run can be held to.

"pyramid" (torchvision's BackboneWithFPN with LastLevelP6P7 and a RetinaNetHead shared across
its levels: a network with several outputs) has its own files, described at `pyramid_fixtures`;
`--pyramid-only` writes just them.

"grad_cam" (a small convolutional classifier's input gradient, a layer's activation and
gradient, and Grad-CAM's map, as PyTorch's autograd and hooks give them): `--grad-cam-only`.

"options" (PyTorch options: batch norm momentum=None, track_running_stats=False, bias=False;
max pool dilation; avg pool divisor_override; softmax over other dims) has the small nets'
files but no activations; `--options-only` writes just its files.

Usage: pip install torch torchvision safetensors numpy && python3 tools/gen_layer_fixtures.py
"""
import copy
import math
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torchvision
from safetensors.torch import save_file
from torch import nn

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def seq(*layers):
    """nn.Sequential from (name or None, module) pairs; None takes the position."""
    return nn.Sequential(OrderedDict((name or str(i), m) for i, (name, m) in enumerate(layers)))


class Residual(nn.Module):
    """body(x) + shortcut(x) (or + x): the DSL's `residual { ... } name: shortcut { ... }`, with
    the body's layers named directly under the block, as torchvision's BasicBlock has them."""

    def __init__(self, body, shortcut=None, shortcut_name="shortcut"):
        super().__init__()
        self.body_names = []
        for i, (name, m) in enumerate(body):
            name = name or str(i)
            self.add_module(name, m)
            self.body_names.append(name)
        self.shortcut_name = shortcut_name if shortcut is not None else None
        if shortcut is not None:
            self.add_module(shortcut_name, shortcut)

    def forward(self, x):
        y = x
        for name in self.body_names:
            y = getattr(self, name)(y)
        return y + (getattr(self, self.shortcut_name)(x) if self.shortcut_name else x)


def every():
    return "every", (3, 12, 10), seq(
        (None, nn.Conv2d(3, 8, 3, padding="same", bias=False)), (None, nn.BatchNorm2d(8)), (None, nn.ReLU6()),
        (None, Residual([
            (None, nn.Conv2d(8, 8, 3, padding=1, groups=4)), (None, nn.BatchNorm2d(8)), (None, nn.LeakyReLU(0.1)),
            (None, nn.Conv2d(8, 8, 1)), (None, nn.BatchNorm2d(8, affine=False)),
        ])),
        (None, nn.ELU(0.5)),
        (None, seq((None, nn.Conv2d(8, 12, (3, 2), stride=2, padding=(1, 1), dilation=(1, 2))),
                   (None, nn.BatchNorm2d(12, eps=1e-3, momentum=0.2)), (None, nn.SiLU()))),
        (None, nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)),
        ("block", Residual([
            ("dw", nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False)), ("bn", nn.BatchNorm2d(12)), (None, nn.Hardswish()),
            ("pw", nn.Conv2d(12, 16, 1)),
        ], seq((None, nn.Conv2d(12, 16, 1, bias=False)), (None, nn.BatchNorm2d(16))), "proj")),
        (None, nn.GELU()),
        (None, nn.AdaptiveAvgPool2d((2, 3))),
        (None, nn.Flatten()),
        (None, nn.Linear(96, 20, bias=False)), (None, nn.BatchNorm1d(20)), (None, nn.Hardsigmoid()),
        (None, nn.Linear(20, 10)),
    )


def every2():
    return "every2", (2, 14, 13), seq(
        (None, nn.Conv2d(2, 6, 2, padding="same")), (None, nn.Sigmoid()),
        (None, nn.AvgPool2d(2, 2, padding=1, ceil_mode=True, count_include_pad=False)),
        (None, nn.AvgPool2d(3, 2, padding=1)),
        (None, nn.Conv2d(6, 6, 3, padding="valid", groups=2)), (None, nn.Tanh()),
        (None, nn.AdaptiveMaxPool2d((3, 1))),
        (None, nn.Identity()),
        (None, Residual([(None, nn.Conv2d(6, 6, 1)), (None, nn.GELU(approximate="tanh"))])),
        (None, nn.Conv2d(6, 8, 1)), (None, nn.ReLU()),
        (None, nn.AdaptiveAvgPool2d(1)),
        (None, nn.Flatten()),
        (None, nn.Linear(8, 6)), (None, nn.Softmax(dim=1)),
        (None, nn.Linear(6, 4)), (None, nn.LogSoftmax(dim=1)),
    )


class Branches(nn.Module):
    """Children applied to one input and joined: `cat { ... }` (along channels), `sum { ... }`,
    or `mul { a b }` (the second broadcast over the first's maps)."""

    def __init__(self, how, branches):
        super().__init__()
        self.how = how
        for i, (name, m) in enumerate(branches):
            self.add_module(name or str(i), m)

    def forward(self, x):
        ys = [m(x) for m in self.children()]
        if self.how == "mul":
            return ys[0] * ys[1]
        return torch.cat(ys, 1) if self.how == "cat" else sum(ys[1:], ys[0])


class Body(nn.Module):
    """A body keyed directly under the block, joined with the input: `dense { ... }`
    (cat(x, body(x))) or `gate { ... }` (x * body(x))."""

    def __init__(self, how, body):
        super().__init__()
        self.how = how
        for i, (name, m) in enumerate(body):
            self.add_module(name or str(i), m)

    def forward(self, x):
        y = x
        for m in self.children():
            y = m(y)
        return torch.cat([x, y], 1) if self.how == "dense" else x * y


class SplitUnit(nn.Module):
    """ShuffleNetV2's stride-1 unit: chunks of the channels through the branches, joined, then
    shuffled: `"unit-1": seq { _: split { identity branch: seq { ... } } _: channel_shuffle(g) }`."""

    def __init__(self, branches, groups):
        super().__init__()
        self.groups = groups
        for i, (name, m) in enumerate(branches):
            self.add_module(name or str(i), m)

    def forward(self, x):
        chunks = x.chunk(len(list(self.children())), 1)
        y = torch.cat([m(c) for m, c in zip(self.children(), chunks)], 1)
        return nn.functional.channel_shuffle(y, self.groups)


class ScaledResidual(nn.Module):
    """ConvNeXt's block: x + stochastic_depth(layer_scale * body(x)). The scaled value is kept in
    `extra_acts`, as a forward hook would see a module there."""

    def __init__(self, body, channels, init, p):
        super().__init__()
        self.body = body
        self.layer_scale = nn.Parameter(torch.ones(channels, 1, 1) * init)
        self.stochastic_depth = torchvision.ops.StochasticDepth(p, "row")
        self.extra_acts = {}

    def forward(self, x):
        y = self.layer_scale * self.body(x)
        self.extra_acts["layer_scale"] = y
        return x + self.stochastic_depth(y)


def merges():
    """Every merge and the layers ConvNeXt, ShuffleNet and squeeze-and-excitation need, each in a
    block with batch norm where one fits: tests/layer_parity.rs's `Merges`. Convolutions right
    before a batch norm have no bias (its gradient is zero in theory, so optimizer steps on it
    would follow rounding noise)."""
    return "merges", (4, 8, 8), seq(
        ("stem", nn.Conv2d(4, 8, 3, padding=1, bias=False)), ("bn", nn.BatchNorm2d(8)), (None, nn.ReLU()),
        ("mix", Branches("cat", [
            ("a", seq((None, nn.Conv2d(8, 4, 1, bias=False)), (None, nn.BatchNorm2d(4)), (None, nn.ReLU()))),
            ("b", seq((None, nn.Conv2d(8, 4, 3, padding=1, bias=False)), (None, nn.BatchNorm2d(4)), (None, nn.SiLU()))),
        ])),
        ("grow", Body("dense", [
            ("norm", nn.BatchNorm2d(8)), (None, nn.ReLU()), ("conv", nn.Conv2d(8, 4, 3, padding=1, bias=False)),
        ])),
        ("se", Body("gate", [
            (None, nn.AdaptiveAvgPool2d(1)), ("fc1", nn.Conv2d(12, 3, 1)), (None, nn.ReLU()),
            ("fc2", nn.Conv2d(3, 12, 1)), (None, nn.Hardsigmoid()),
        ])),
        ("unit-1", SplitUnit([
            (None, nn.Identity()),
            ("branch", seq((None, nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False)), (None, nn.BatchNorm2d(6)),
                           (None, nn.ReLU()))),
        ], 3)),
        ("paths", Branches("sum", [
            (None, nn.Conv2d(12, 12, 1)),
            (None, seq((None, nn.Conv2d(12, 12, 3, padding=1, groups=3, bias=False)), (None, nn.BatchNorm2d(12)))),
            (None, nn.Identity()),
        ])),
        ("ln", torchvision.models.convnext.LayerNorm2d(12, eps=1e-6)),
        ("block", ScaledResidual(seq(
            (None, nn.Conv2d(12, 12, 3, padding=1, groups=12)), (None, torchvision.ops.Permute([0, 2, 3, 1])),
            (None, nn.LayerNorm(12, eps=1e-6)), (None, nn.Linear(12, 24)), (None, nn.GELU()),
            (None, nn.Linear(24, 12)), (None, torchvision.ops.Permute([0, 3, 1, 2])),
        ), 12, 0.5, 0.0)),
        (None, nn.MaxPool2d(2)),
        (None, nn.Flatten()),
        ("head", seq((None, nn.Linear(192, 16)), (None, nn.LayerNorm(16)), (None, nn.ReLU()), (None, nn.Linear(16, 10)))),
    )


def options():
    """PyTorch options that change a layer's arithmetic: batch norm with momentum=None (the
    cumulative average), without running statistics (batch statistics in eval mode too) and
    without a bias; max pooling with dilation; average pooling with divisor_override; log-softmax
    over the height and softmax over the last dimension: tests/layer_parity.rs's
    `Options`."""
    return "options", (3, 10, 9), seq(
        (None, nn.Conv2d(3, 6, 3, padding=1, bias=False)), (None, nn.BatchNorm2d(6, momentum=None)), (None, nn.ReLU()),
        (None, nn.MaxPool2d(3, stride=1, padding=1, dilation=2)),
        (None, nn.Conv2d(6, 6, 1, bias=False)), (None, nn.BatchNorm2d(6, track_running_stats=False)), (None, nn.SiLU()),
        (None, nn.AvgPool2d(2, 2, padding=1, divisor_override=3)),
        (None, nn.Conv2d(6, 4, 1, bias=False)), (None, nn.BatchNorm2d(4, bias=False)),
        (None, nn.LogSoftmax(dim=2)),
        (None, nn.Softmax(dim=-1)),
        (None, nn.Flatten()),
        (None, nn.Linear(80, 12, bias=False)), (None, nn.BatchNorm1d(12, track_running_stats=False, bias=False)),
        (None, nn.Linear(12, 10)),
    )


def norms():
    """Group and instance norm with PyTorch's defaults and options: groups of several channels,
    one group (over the whole sample), a flat value's groups; instance norm without affine
    parameters or running statistics (its statistics in eval mode too), with both, and with
    momentum=None (running values that never move): tests/layer_parity.rs's `Norms`."""
    return "norms", (4, 9, 7), seq(
        (None, nn.Conv2d(4, 8, 3, padding=1)), (None, nn.GroupNorm(4, 8)), (None, nn.ReLU()),
        (None, nn.Conv2d(8, 6, 3, padding=1, bias=False)), (None, nn.InstanceNorm2d(6)), (None, nn.SiLU()),
        (None, nn.Conv2d(6, 6, 1)), (None, nn.InstanceNorm2d(6, affine=True, track_running_stats=True)),
        (None, nn.ReLU()),
        (None, nn.Conv2d(6, 4, 3, stride=2)), (None, nn.GroupNorm(1, 4, eps=1e-3, affine=False)), (None, nn.ReLU()),
        (None, nn.InstanceNorm2d(4, momentum=None, affine=True, track_running_stats=True)),
        (None, nn.Flatten()),
        (None, nn.Linear(48, 12)), (None, nn.GroupNorm(2, 12)),
        (None, nn.Linear(12, 10)),
    )


class StdConv(nn.Conv2d):
    """timm's `ScaledStdConv2d` (with `gamma`: a learned gain, here away from its ones, and
    `gamma / sqrt(fan_in)`) and `StdConv2d` (without): the weights standardized per output
    channel by `F.batch_norm` in training mode."""

    def __init__(self, *args, gamma=None, eps=1e-6, **kw):
        super().__init__(*args, **kw)
        self.eps, self.scale = eps, None
        if gamma is not None:
            self.gain = nn.Parameter(torch.empty(self.out_channels, 1, 1, 1).uniform_(0.5, 1.5))
            self.scale = gamma * self.weight[0].numel() ** -0.5

    def forward(self, x):
        gain = None if self.scale is None else (self.gain * self.scale).view(-1)
        weight = nn.functional.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, weight=gain,
                                          training=True, momentum=0.0, eps=self.eps).reshape_as(self.weight)
        return nn.functional.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Eca(nn.Module):
    """timm's EcaModule: a `Conv1d` across the pooled channels gates them."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3, padding=1, bias=False)

    def forward(self, x):
        y = x.mean((2, 3)).view(x.shape[0], 1, -1)
        y = self.conv(y).view(x.shape[0], -1, 1, 1).sigmoid()
        return x * y.expand_as(x)


class Dag(nn.Module):
    """A forward whose values are read far from where they are made and by several joins, as
    timm's RexNet, DPN and Res2Net write theirs (no nesting of chains and merges expresses it),
    channel slices (`narrow`, GhostNet's `out[:, :C]`), unequal splits (`split(5, 7)`), a
    product with a constant (`scale(by=0.5)`), TensorFlow's 'SAME' padding (`p=same_tf`, here
    asymmetric), MetaFormer's `pool(x) - x`, ECA's `Conv1d` gate, a `Conv1d` + `BatchNorm1d` on a `view`, and weight
    standardisation (`ScaledStdConv2d`, `StdConv2d`):
    tests/layer_parity.rs's `Dag`,
    written with `let` and `from`."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.a = StdConv(8, 8, 3, padding=1, gamma=1.7139588594436646, eps=1e-5)
        self.b = StdConv(8, 8, 1, eps=1e-8)
        self.c = nn.Conv2d(16, 12, 3, stride=2, padding=1)
        self.d = nn.Conv2d(8, 12, 1, stride=2)
        self.e = nn.Conv2d(5, 5, 1)
        self.f = nn.Conv2d(12, 12, 3, stride=2)
        self.eca = Eca()
        self.g = nn.Conv1d(12, 8, 3, stride=2, padding=2, dilation=2, groups=4)
        self.bn1 = nn.BatchNorm1d(8)
        self.skip = nn.Parameter(torch.tensor(0.7))
        self.head = nn.Linear(8, 10)

    @staticmethod
    def pad_same(x, k, s):
        """TensorFlow's 'SAME' padding, as timm's `pad_same`: output ceil(in / s)."""
        pads = []
        for size in (x.shape[3], x.shape[2]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return nn.functional.pad(x, pads)

    def forward(self, x):
        s = torch.relu(self.bn(self.stem(x)))
        ya = torch.relu(self.a(s))
        yb = self.b(ya) + s
        t = self.c(torch.cat([ya, yb], 1))
        t = torch.cat([t[:, 4:12], torch.relu(t.narrow(1, -8, 4))], 1)
        u = torch.sigmoid(t) * self.d(s)
        p0, p1 = torch.split(u, [5, 7], 1)
        u = torch.cat([self.e(p0), p1], 1) * 0.5
        u.mul_(self.skip)
        u = self.f(self.pad_same(u, 3, 2))
        u = nn.functional.avg_pool2d(u, 3, 1, 1) - u  # zeros counted: a bias does not cancel
        u = self.eca(u)
        v = torch.relu(self.bn1(self.g(u.view(u.shape[0], 12, -1))))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(v.reshape(v.shape[0], 8, 3, 1), 1), 1))


def dag():
    return "dag", (3, 9, 7), Dag()


def pyramid_backbone():
    """A small ResNet-like body under torchvision's names, with batch norms, the first frozen
    (`FrozenBatchNorm2d`, as torchvision's detection backbones have them)."""
    def stage(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
    body = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 8, 3, 2, 1, bias=False)), ("bn1", torchvision.ops.FrozenBatchNorm2d(8)), ("relu", nn.ReLU()),
        ("layer2", stage(8, 12)), ("layer3", stage(12, 16)), ("layer4", stage(16, 20)),
    ]))
    return body


def pyramid():
    """tests/outputs.rs's `Pyramid`: torchvision's own `BackboneWithFPN` (IntermediateLayerGetter
    + FeaturePyramidNetwork + LastLevelP6P7 on P5) and `RetinaNetHead` (3 anchors, 4 classes)
    applied to every level with one set of weights: the five levels, then the head's
    `cls_logits` and `bbox_regression`."""
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.retinanet import RetinaNetHead
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    class Pyramid(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = BackboneWithFPN(
                pyramid_backbone(), {"layer2": "0", "layer3": "1", "layer4": "2"}, [12, 16, 20], 8,
                extra_blocks=LastLevelP6P7(8, 8))
            self.head = RetinaNetHead(8, 3, 4)

        def forward(self, x):
            levels = list(self.backbone(x).values())
            out = self.head(levels)
            return levels + [out["cls_logits"], out["bbox_regression"]]

    return "pyramid", (3, 40, 24), Pyramid()


def pyramid_fixtures():
    """`{name}.safetensors` (weights), `{name}.io.safetensors` ("input" [3, 3, 40, 24] and each
    eval-mode output "out.<k>", float64) and `{name}.train.safetensors`: for a batch of 4 in
    train mode, "input", "target.<k>" per output, "loss" = sum over outputs of
    mse(out_k, target_k) and "grad.<param>" / "running.<buffer>" (float64)."""
    name, shape, model = pyramid()
    torch.manual_seed(sum(map(ord, name)))
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.reset_parameters()
        if isinstance(m, torchvision.ops.FrozenBatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.3, 0.3)
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    randomize_batch_norm(model)
    model.float()
    save_file(state(model), OUT / f"{name}.safetensors")
    x = torch.randn(3, *shape)
    with torch.no_grad():
        ys = copy.deepcopy(model).double().eval()(x.double())
    out = {"input": x.contiguous()}
    for k, y in enumerate(ys):
        out[f"out.{k}"] = y.float().contiguous()
    save_file(out, OUT / f"{name}.io.safetensors")

    torch.manual_seed(9)
    x = torch.randn(4, *shape)
    targets = [torch.randn(4, *y.shape[1:]) for y in ys]
    ref = copy.deepcopy(model).double().train()
    loss = sum(nn.functional.mse_loss(y, t.double()) for y, t in zip(ref(x.double()), targets))
    loss.backward()
    out = {"input": x.contiguous(), "loss": loss.detach().float().reshape(1)}
    for k, t in enumerate(targets):
        out[f"target.{k}"] = t.contiguous()
    for k, p in ref.named_parameters():
        out[f"grad.{k}"] = p.grad.float().contiguous()
    for k, b in ref.named_buffers():
        out[f"running.{k}"] = b.detach().clone() if b.dtype == torch.int64 else b.detach().float().contiguous()
    save_file(out, OUT / f"{name}.train.safetensors")
    print(f"{name}: outputs {[tuple(y.shape) for y in ys]}, loss {loss.item():.4f}")


def resample():
    """The layers of dense prediction and LR-ASPP's `mul` of two branches: convolutions with every padding_mode (one with 'same'
    padding and an even kernel), the four padding layers, pixel shuffles, transposed
    convolutions (output_padding up to and past the padding, groups, dilation, one without bias
    before a batch norm), and upsampling in each mode, with sizes and scale factors, align_corners both
    ways: tests/layer_parity.rs's `Resample`."""
    return "resample", (3, 8, 10), seq(
        (None, nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect", bias=False)), (None, nn.BatchNorm2d(8)), (None, nn.ReLU()),
        (None, nn.Conv2d(8, 8, (3, 2), padding=(1, 2), padding_mode="replicate", bias=False)),
        (None, nn.BatchNorm2d(8)), (None, nn.SiLU()),
        (None, nn.Conv2d(8, 8, 4, padding="same", padding_mode="circular")), (None, nn.Tanh()),
        (None, nn.ZeroPad2d((1, 0, 2, 1))),
        (None, nn.ReflectionPad2d(1)),
        (None, nn.ReplicationPad2d((2, 0, 0, 1))),
        (None, nn.CircularPad2d(1)),
        (None, nn.PixelUnshuffle(2)),
        (None, nn.Conv2d(32, 12, 1)), (None, nn.ReLU()),
        (None, nn.PixelShuffle(2)),
        (None, nn.Conv2d(3, 8, 3, stride=2, padding=1)),
        (None, nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1, bias=False)), (None, nn.BatchNorm2d(6)), (None, nn.ReLU()),
        ("gated", Branches("mul", [
            ("value", nn.Conv2d(6, 6, 1)),
            ("scale", seq((None, nn.AdaptiveAvgPool2d(1)), (None, nn.Conv2d(6, 6, 1)), (None, nn.Sigmoid()))),
        ])),
        (None, nn.ConvTranspose2d(6, 4, (3, 2), stride=(1, 2), padding=(1, 0), output_padding=(0, 1), groups=2,
                                  dilation=(2, 1))),
        (None, nn.MaxPool2d(2)),
        (None, nn.Upsample(scale_factor=1.5, mode="bilinear")),
        (None, nn.Upsample(size=(7, 9), mode="bilinear", align_corners=True)),
        (None, nn.Upsample(scale_factor=2)),
        (None, nn.Upsample(size=(5, 11), mode="nearest")),
        (None, nn.Upsample(scale_factor=(2, 3), mode="nearest-exact")),
        (None, nn.Upsample(scale_factor=0.7, mode="bilinear", recompute_scale_factor=True)),
        (None, nn.Conv2d(4, 6, 3, stride=2)), (None, nn.ReLU()),
        (None, nn.AdaptiveAvgPool2d(2)),
        (None, nn.Flatten()),
        (None, nn.Linear(24, 10)),
    )


def double_conv(cin, cout):
    return seq((None, nn.Conv2d(cin, cout, 3, padding=1, bias=False)), (None, nn.BatchNorm2d(cout)), (None, nn.ReLU()),
               (None, nn.Conv2d(cout, cout, 3, padding=1, bias=False)), (None, nn.BatchNorm2d(cout)), (None, nn.ReLU()))


def unet():
    """A two-level U-Net with batch norm: `cat` skips, a max-pool encoder, a bilinear
    upsampling and a transposed-convolution decoder, 3 classes per pixel:
    tests/layer_parity.rs's `UNetSmall`."""
    return "unet", (3, 16, 16), seq(
        ("inc", double_conv(3, 8)),
        ("level1", Branches("cat", [(None, nn.Identity()), ("down", seq(
            (None, nn.MaxPool2d(2)),
            ("conv", double_conv(8, 16)),
            ("level2", Branches("cat", [(None, nn.Identity()), ("down", seq(
                (None, nn.MaxPool2d(2)),
                ("conv", double_conv(16, 16)),
                ("up", seq((None, nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)),
                           (None, nn.Conv2d(16, 16, 1)))),
            ))])),
            ("fuse", double_conv(32, 16)),
            ("up", nn.ConvTranspose2d(16, 8, 2, stride=2)),
        ))])),
        ("fuse", double_conv(16, 8)),
        ("outc", nn.Conv2d(8, 3, 1)),
    )


# The U-Net's per-pixel loss: class weights, an ignored label and label smoothing.
UNET_LOSS = dict(weight=[0.5, 1.0, 2.0], ignore_index=255, label_smoothing=0.1)


def unet_fixtures():
    """`unet.safetensors`, `unet.io.safetensors` (eval) and `unet.train.safetensors`: a batch of
    4 with one label per pixel (a tenth of them 255, ignored), trained with
    `cross_entropy(weight, ignore_index, label_smoothing)` as UNET_LOSS says: "loss", "grad.<p>",
    "running.<b>" from one float64 train-mode pass, and "sgd.<t>" / "adam.<t>" after 2 and 3
    steps in float32."""
    name, shape, model = unet()
    torch.manual_seed(sum(map(ord, name)))
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    randomize_batch_norm(model)
    save_file(state(model), OUT / f"{name}.safetensors")
    x = torch.randn(2, *shape)
    with torch.no_grad():
        y = copy.deepcopy(model).double().eval()(x.double()).float()
    save_file({"input": x.contiguous(), "output": y.contiguous()}, OUT / f"{name}.io.safetensors")

    torch.manual_seed(8)
    x = torch.randn(4, *shape)
    labels = torch.randint(0, 3, (4, shape[1], shape[2]))
    labels[torch.rand(labels.shape) < 0.1] = 255

    def loss_of(logits):
        kw = dict(UNET_LOSS, weight=torch.tensor(UNET_LOSS["weight"], dtype=logits.dtype))
        return nn.functional.cross_entropy(logits, labels, **kw)

    out, loss = train_fixtures(model, x, labels, loss_of)
    save_file(out, OUT / f"{name}.train.safetensors")
    print(f"{name}: output {tuple(y.shape)}, loss {loss.item():.4f}")


def randomize_norms(model):
    """Layer, group and instance norms and layer scales away from their ones and zeros, so their gradients matter."""
    for name, p in model.named_parameters():
        if "layer_scale" in name:
            nn.init.uniform_(p, 0.3, 0.8)
    for m in model.modules():
        norm = (nn.LayerNorm, torchvision.models.convnext.LayerNorm2d, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)
        if isinstance(m, norm) and getattr(m, "weight", None) is not None:
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.3, 0.3)


def randomize_batch_norm(model):
    for m in model.modules():
        if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)):
            if m.weight is not None:
                nn.init.uniform_(m.weight, 0.5, 1.5)
            if m.bias is not None:
                nn.init.uniform_(m.bias, -0.3, 0.3)
            if m.track_running_stats:
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)


def state(model):
    return {k: v.detach().contiguous() for k, v in model.state_dict().items()}


def train_fixtures(model, x, labels, loss_of):
    """The train-mode part of a fixture: for the batch `x` and its `labels`, "input", "labels",
    "loss" (`loss_of(logits)`, float64), "grad.<param>" (float64), "running.<buffer>" after that
    one forward (float64), and "sgd.<tensor>" / "adam.<tensor>" after 2 steps of
    SGD(lr=0.05, momentum=0.9, weight_decay=0.01) and 3 steps of Adam(lr=0.01, eps=1e-3) in
    float32, as a user runs them. Returns the dict and the float64 loss."""
    out = {"input": x.contiguous(), "labels": labels.contiguous()}
    ref = copy.deepcopy(model).double().train()
    loss = loss_of(ref(x.double()))
    loss.backward()
    out["loss"] = loss.detach().float().reshape(1)
    for k, p in ref.named_parameters():
        out[f"grad.{k}"] = p.grad.float().contiguous()
    for k, b in ref.named_buffers():
        out[f"running.{k}"] = b.detach().clone() if b.dtype == torch.int64 else b.detach().float().contiguous()
    for opt_name, steps, make in [
        ("sgd", 2, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01)),
        ("adam", 3, lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-3)),
    ]:
        m = copy.deepcopy(model).float().train()
        opt = make(m.parameters())
        for _ in range(steps):
            opt.zero_grad()
            loss_of(m(x)).backward()
            opt.step()
        for k, v in m.state_dict().items():
            out[f"{opt_name}.{k}"] = v.detach().clone().contiguous()
        # The same steps in float64: how far PyTorch's own float32 run strays is the measure of
        # how sensitive the trajectory is (Adam magnifies the rounding of near-zero gradients).
        m = copy.deepcopy(model).double().train()
        opt = make(m.parameters())
        for _ in range(steps):
            opt.zero_grad()
            loss_of(m(x.double())).backward()
            opt.step()
        for k, v in m.state_dict().items():
            out[f"{opt_name}64.{k}"] = v.detach().clone() if v.dtype == torch.int64 else v.detach().float().contiguous()
    return out, loss


def small_fixtures(name, shape, model):
    torch.manual_seed(sum(map(ord, name)))
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    randomize_batch_norm(model)
    randomize_norms(model)
    model.float()
    save_file(state(model), OUT / f"{name}.safetensors")
    x = torch.randn(4, *shape)
    ref = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        y = ref(x.double()).float()
    save_file({"input": x.contiguous(), "output": y.contiguous()}, OUT / f"{name}.io.safetensors")

    torch.manual_seed(7)
    x = torch.randn(8, *shape)
    classes = y.shape[1]
    labels = torch.randint(0, classes, (8,))
    out, loss = train_fixtures(model, x, labels, lambda logits: nn.functional.cross_entropy(logits, labels))
    save_file(out, OUT / f"{name}.train.safetensors")
    print(f"{name}: output {tuple(y.shape)}, loss {loss.item():.4f}")


def activation_fixtures(name, shape, model):
    """`{name}.acts.safetensors`: the output of every module (forward hooks, eval mode, float64)
    for the inputs of `{name}.io.safetensors` with the weights of `{name}.safetensors`, under
    `act.` + the module's name: what `activations` must give for each layer key."""
    from safetensors.torch import load_file
    model.load_state_dict(load_file(OUT / f"{name}.safetensors"))
    ref = copy.deepcopy(model).double().eval()
    x = load_file(OUT / f"{name}.io.safetensors")["input"]
    out = {}
    hooks = [m.register_forward_hook(lambda _m, _i, y, key=key: out.__setitem__(f"act.{key}", y.float().contiguous()))
             for key, m in ref.named_modules() if key]
    with torch.no_grad():
        ref(x.double())
    for h in hooks:
        h.remove()
    for key, m in ref.named_modules():
        for k, v in getattr(m, "extra_acts", {}).items():
            out[f"act.{key}.{k}"] = v.float().contiguous()
    save_file(out, OUT / f"{name}.acts.safetensors")
    print(f"{name}: {len(out)} activations")


# Seeded weights, mirrored by tests/common/mod.rs.
MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def mix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def fnv1a(name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return np.uint64(h)


def uniform(name, n):
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=np.uint64)
        bits = mix(fnv1a(name) ^ mix(i)) >> np.uint64(40)
    return (bits.astype(np.float32) / np.float32(1 << 24)) * np.float32(2) - np.float32(1)


def seeded(name, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniform(name, n)
    if name.endswith("running_var"):
        v = np.float32(0.25) * (u + np.float32(1)) + np.float32(0.75)
    elif name.endswith("running_mean") or name.endswith("bias"):
        v = np.float32(0.1) * u
    elif len(shape) == 1:
        v = np.float32(1) + np.float32(0.25) * u
    else:
        fan_in = int(np.prod(shape[1:]))
        bound = np.float32(1) / np.sqrt(np.float32(fan_in))
        v = u * bound
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def fill_seeded(model):
    sd = model.state_dict()
    for k, v in sd.items():
        if v.dtype == torch.float32:
            v.copy_(seeded(k, tuple(v.shape)))
    return model


def sample(t):
    flat = t.reshape(-1)
    n = flat.numel()
    idx = torch.tensor([(j * 7919) % n for j in range(min(n, 64))], dtype=torch.long)
    return flat[idx].contiguous()


def torchvision_fixtures():
    for name, make in [("resnet18", torchvision.models.resnet18), ("mobilenet_v2", torchvision.models.mobilenet_v2)]:
        model = fill_seeded(make()).eval()
        torch.manual_seed(11)
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            y64 = copy.deepcopy(model).double()(x.double()).float()
            y32 = model(x)
        save_file({"input": x, "output": y64.contiguous(), "output32": y32.contiguous()}, OUT / f"{name}.io.safetensors")
        print(f"{name}: eval output {tuple(y64.shape)}, float32 relative error {((y32 - y64).abs().max() / y64.abs().max()).item():.2e}")

    model = fill_seeded(torchvision.models.resnet18())
    torch.manual_seed(12)
    x = torch.randn(4, 3, 64, 64)
    labels = torch.randint(0, 1000, (4,))
    out = {"input": x, "labels": labels}
    for suffix, dtype in [("", torch.float64), ("32", torch.float32)]:
        m = copy.deepcopy(model).to(dtype).train()
        loss = nn.functional.cross_entropy(m(x.to(dtype)), labels)
        loss.backward()
        out[f"loss{suffix}"] = loss.detach().float().reshape(1)
        for k, p in m.named_parameters():
            out[f"grad{suffix}.{k}"] = sample(p.grad.float())
        for k, b in m.named_buffers():
            if b.dtype != torch.int64:
                out[f"running{suffix}.{k}"] = sample(b.float())
        for opt_name, make in [
            ("sgd", lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=1e-4)),
            ("adam", lambda p: torch.optim.Adam(p, lr=1e-3, eps=1e-3)),
        ]:
            m = copy.deepcopy(model).to(dtype).train()
            opt = make(m.parameters())
            for _ in range(2):
                opt.zero_grad()
                nn.functional.cross_entropy(m(x.to(dtype)), labels).backward()
                opt.step()
            for k, v in m.state_dict().items():
                if v.dtype != torch.int64:
                    out[f"{opt_name}{suffix}.{k}"] = sample(v.float())
    save_file(out, OUT / "resnet18.train.safetensors")
    print(f"resnet18 train: loss {out['loss'].item():.4f} (float32 {out['loss32'].item():.4f})")


class CamNet(nn.Module):
    """tests/gradients_to_input.rs's `CamNet`: convolutions without batch statistics (so
    Grad-CAM's gradients are the same in train and eval mode), pooled and classified."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 12, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


class CamBnNet(nn.Module):
    """tests/gradients_to_input.rs's `CamBnNet`: `CamNet` with batch norms and a dropout, for
    Grad-CAM in eval mode (`model.eval()`: running statistics, dropout off)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Dropout(0.5), nn.Conv2d(8, 12, 3, padding=1),
                                      nn.BatchNorm2d(12), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def grad_cam_of(model, x, target, prefix):
    """`model`'s output, input gradient of the targets' summed scores, `features`' activation
    and gradient and Grad-CAM's map, in float64, keyed with `prefix`."""
    seen = {}
    model.features.register_forward_hook(lambda m, i, o: seen.update(activation=o))
    model.features.register_full_backward_hook(lambda m, gi, go: seen.update(gradient=go[0]))
    xd = x.double().requires_grad_()
    y = model(xd)
    y.gather(1, target[:, None]).sum().backward()
    a, g = seen["activation"].detach(), seen["gradient"]
    cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1))
    out = {"output": y.detach().float(), "input_grad": xd.grad.float(), "activation": a.float(),
           "gradient": g.float(), "cam": cam.float()}
    return {prefix + k: v for k, v in out.items()}


def grad_cam_fixtures():
    """grad_cam.safetensors: `CamNet` with every tensor seeded from its name, "input" [3, 3, 16,
    16], "target" (a class per sample), and in float64: "output", the input's gradient
    "input_grad" of the targets' summed scores, the `features` module's output "activation" and
    its gradient "gradient" (a backward hook's), and Grad-CAM's map "cam" [3, 8, 8]:
    relu(sum_k mean(gradient_k) activation_k), as pytorch-grad-cam computes it before resizing;
    the same of `CamBnNet` in eval mode, each key prefixed by "bn.".
    """
    model = fill_seeded(CamNet()).double()
    torch.manual_seed(35)
    x = torch.rand(3, 3, 16, 16)
    target = torch.tensor([1, 4, 0])
    out = {"input": x, "target": target.to(torch.int64)}
    out.update(grad_cam_of(model, x, target, ""))
    cam = out["cam"]
    # The same in eval mode through batch norms (seeded running statistics) and a dropout.
    out.update(grad_cam_of(fill_seeded(CamBnNet()).double().eval(), x, target, "bn."))
    save_file({k: v.contiguous() for k, v in out.items()}, OUT / "grad_cam.safetensors")
    print(f"grad_cam: cam {tuple(cam.shape)}, max {cam.max().item():.3e}")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    if "--grad-cam-only" in sys.argv:
        grad_cam_fixtures()
        return
    if "--resample-only" in sys.argv:
        small_fixtures(*resample())
        activation_fixtures(*resample())
        unet_fixtures()
        return
    if "--dag-only" in sys.argv:
        small_fixtures(*dag())
        return
    if "--pyramid-only" in sys.argv:
        pyramid_fixtures()
        return
    if "--norms-only" in sys.argv:
        small_fixtures(*norms())
        activation_fixtures(*norms())
        return
    if "--options-only" in sys.argv:
        # Its batch norms without running statistics normalize a batch by its own statistics,
        # so per-sample hooks do not apply: no activation fixtures.
        small_fixtures(*options())
        return
    if "--activations-only" not in sys.argv:
        for name, shape, model in [every(), every2(), merges(), options(), resample(), norms(), dag()]:
            small_fixtures(name, shape, model)
        unet_fixtures()
        pyramid_fixtures()
        grad_cam_fixtures()
        if "--merges-only" not in sys.argv:
            torchvision_fixtures()
    for name, shape, model in [every(), every2(), merges(), resample(), norms()]:
        activation_fixtures(name, shape, model)


if __name__ == "__main__":
    main()
