#!/usr/bin/env python3
"""Generate the PyTorch parity fixtures that tests/pytorch_parity.rs reads.

For each net below, writes to tests/fixtures/:
  <name>.safetensors     the state_dict of a PyTorch nn.Sequential (default init, fixed seed)
  <name>.io.safetensors  "input" [N, C, H, W] and "output" [N, ...], the output computed in
                         float64 from the same float32 weights and inputs, then rounded to float32

and for the nets in TRAINED, <name>.train.safetensors with, for a batch of 8 labelled samples:
  "input", "labels" (int64), "loss" (mean cross-entropy, computed in float64),
  "grad.<param>"    every parameter's gradient of that loss (float64, rounded to float32),
  "input_grad"      the loss's gradient with respect to the input, `x.grad` (float64, rounded),
  "sgd.<param>"     the parameters after 2 steps of SGD(lr=0.05, momentum=0.9, nesterov=True,
                    weight_decay=0.01) on that batch,
  "sgd_damp.<param>" after 2 steps of SGD(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.02),
  "adam.<param>"    after 3 steps of Adam(lr=0.01, eps=1e-3, weight_decay=0.01),
  "adamw.<param>"   after 3 steps of AdamW(lr=0.01, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1),
each optimizer starting from the saved weights and run in float32 as a user would.

Each net mirrors a `cnn!` network in tests/pytorch_parity.rs layer for layer; unnamed layers
take their position as their name, as nn.Sequential numbers its children.

Usage: pip install torch safetensors && python3 tools/gen_fixtures.py
       python3 tools/gen_fixtures.py --input-grads   (adds "input_grad" to the committed
       <name>.train.safetensors, computed from their own weights and batch, changing nothing else)
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


TRAINED = {"lenet", "tuples", "named", "pointwise"}
TRAIN_BATCH = 8

OPTIMIZERS = {
    "sgd": (2, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "sgd_damp": (2, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.02)),
    # eps 1e-3 rather than the default 1e-8: Adam divides each gradient by its own running
    # magnitude plus eps, so with a tiny eps an element whose gradient is ~1e-8 turns rounding
    # differences of its gradient into visible differences of its update. With eps 1e-6,
    # PyTorch's own float32 and float64 runs of these 3 steps differ by up to 4e-4 (relative,
    # LeNet); with 1e-3 by 1.5e-6, so a 1e-5 bound tests the update rule, not the rounding.
    "adam": (3, lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-3, weight_decay=0.01)),
    "adamw": (3, lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1)),
}


def train_fixture(name, shape, model):
    import copy
    torch.manual_seed(7)
    x = torch.randn(TRAIN_BATCH, *shape)
    classes = model(x[:1]).shape[1]
    labels = torch.randint(0, classes, (TRAIN_BATCH,))
    out = {"input": x.contiguous(), "labels": labels.contiguous()}
    ref = copy.deepcopy(model).double()
    xd = x.double().requires_grad_()
    loss = nn.functional.cross_entropy(ref(xd), labels)
    loss.backward()
    out["loss"] = loss.detach().float().reshape(1)
    out["input_grad"] = xd.grad.float().contiguous()
    for k, p in ref.named_parameters():
        out[f"grad.{k}"] = p.grad.float().contiguous()
    for opt_name, (steps, make) in OPTIMIZERS.items():
        m = copy.deepcopy(model).float()
        opt = make(m.parameters())
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.cross_entropy(m(x), labels).backward()
            opt.step()
        for k, p in m.named_parameters():
            out[f"{opt_name}.{k}"] = p.detach().contiguous()
    save_file(out, OUT / f"{name}.train.safetensors")


def add_input_grads():
    """`input_grad` for the committed training fixtures, from their own weights and batch."""
    from safetensors.torch import load_file
    for name, _, model in nets():
        if name not in TRAINED:
            continue
        model.load_state_dict(load_file(OUT / f"{name}.safetensors"))
        path = OUT / f"{name}.train.safetensors"
        out = load_file(path)
        x = out["input"].double().requires_grad_()
        loss = nn.functional.cross_entropy(model.double()(x), out["labels"])
        loss.backward()
        assert abs(loss.item() - out["loss"].item()) <= 1e-6 * abs(loss.item()), f"{name}: not the committed batch"
        out["input_grad"] = x.grad.float().contiguous()
        save_file(out, path)
        print(f"{name}: input_grad {tuple(x.grad.shape)}")


def main():
    import sys
    if "--input-grads" in sys.argv[1:]:
        add_input_grads()
        return
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
        if name in TRAINED:
            train_fixture(name, shape, model)
        print(f"{name}: input {tuple(x.shape)} output {tuple(y.shape)}, {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main()
