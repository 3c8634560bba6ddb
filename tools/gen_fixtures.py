#!/usr/bin/env python3
"""Generate the PyTorch parity fixtures that tests/pytorch_parity.rs reads.

For each net below, writes to tests/fixtures/:
  <name>.safetensors     the state_dict of a PyTorch nn.Sequential (default init, fixed seed)
  <name>.io.safetensors  "input" [N, C, H, W] and "output" [N, ...], the output computed in
                         float64 from the same float32 weights and inputs, then rounded to float32

Each net mirrors a `cnn!` network in tests/pytorch_parity.rs layer for layer; unnamed layers
take their position as their name, as nn.Sequential numbers its children.

Usage: pip install torch safetensors && python3 tools/gen_fixtures.py
"""
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
BATCH = 4


def seq(*layers):
    """nn.Sequential from (name or None, module) pairs; None takes the position."""
    return nn.Sequential(OrderedDict((name or str(i), m) for i, (name, m) in enumerate(layers)))


def nets():
    yield "lenet", (1, 28, 28), seq(
        (None, nn.Conv2d(1, 6, 5, padding=2)), (None, nn.ReLU()), (None, nn.MaxPool2d(2, 2)),
        (None, nn.Conv2d(6, 16, 5)), (None, nn.ReLU()), (None, nn.MaxPool2d(2, 2)),
        (None, nn.Flatten()),
        (None, nn.Linear(400, 120)), (None, nn.ReLU()),
        (None, nn.Linear(120, 84)), (None, nn.ReLU()),
        (None, nn.Linear(84, 10)),
    )
    # Tuple kernel, stride and padding; pool without a stride; positional kernel; `_`.
    yield "tuples", (3, 17, 13), seq(
        (None, nn.Conv2d(3, 5, (3, 5), stride=(2, 1), padding=(1, 2))), (None, nn.ReLU()),
        (None, nn.MaxPool2d(3)),
        (None, nn.Conv2d(5, 7, 2)),
        (None, nn.Flatten()),
        (None, nn.Linear(42, 9)),
    )
    # Named layers mixed with numbered ones, PyTorch keyword spellings, overlapping pool.
    yield "named", (2, 9, 11), seq(
        ("c1", nn.Conv2d(2, 4, kernel_size=3, stride=2, padding=1)), ("act", nn.ReLU()),
        ("p1", nn.MaxPool2d(2, 1)),
        ("c2", nn.Conv2d(4, 3, kernel_size=(2, 3))),
        (None, nn.Flatten()),
        ("fc", nn.Linear(27, 5)), (None, nn.ReLU()),
        ("out", nn.Linear(5, 3)),
    )
    # 1x1 conv, overlapping pool with stride < kernel, positional stride and padding, odd sizes.
    yield "pointwise", (4, 8, 8), seq(
        (None, nn.Conv2d(4, 8, 1)), (None, nn.ReLU()),
        (None, nn.MaxPool2d(3, 2)),
        (None, nn.Conv2d(8, 6, 3, 1, 1)), (None, nn.ReLU()),
        (None, nn.MaxPool2d((2, 3), (1, 2))),
        (None, nn.Flatten()),
        (None, nn.Linear(12, 10)),
    )
    # Ends in a conv: a [C, H, W] output; ReLU between convs.
    yield "convout", (2, 7, 7), seq(
        (None, nn.Conv2d(2, 3, 3, stride=2)), (None, nn.ReLU()),
        (None, nn.Conv2d(3, 2, (1, 2), padding=(0, 1))),
    )


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for seed, (name, shape, model) in enumerate(nets()):
        torch.manual_seed(1000 + seed)
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        x = torch.randn(BATCH, *shape)
        with torch.no_grad():
            y = model.double()(x.double()).float()
        model.float()
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, OUT / f"{name}.safetensors")
        save_file({"input": x.contiguous(), "output": y.contiguous()}, OUT / f"{name}.io.safetensors")
        print(f"{name}: input {tuple(x.shape)} output {tuple(y.shape)}, {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main()
