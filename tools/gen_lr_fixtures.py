#!/usr/bin/env python3
"""Writes tests/fixtures/lr_schedules.safetensors: for two settings of each learning-rate
schedule, PyTorch's `scheduler.get_last_lr()[0]` after 0, 1, ..., 29 calls of
`scheduler.step()` (float32 tensors of 30 values), which `tests/lr_schedules.rs` compares with
`cnn::lr`'s `lr_at(0..30)`.

Usage: pip install torch safetensors numpy && python3 tools/gen_lr_fixtures.py
"""
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from torch.optim import lr_scheduler as s

STEPS = 30
SETTINGS = {
    "step_a": (0.1, lambda o: s.StepLR(o, step_size=3, gamma=0.5)),
    "step_b": (0.05, lambda o: s.StepLR(o, step_size=7, gamma=0.9)),
    "multistep_a": (0.1, lambda o: s.MultiStepLR(o, milestones=[5, 10, 20], gamma=0.1)),
    "multistep_b": (0.3, lambda o: s.MultiStepLR(o, milestones=[15, 2, 2], gamma=0.5)),
    "exponential_a": (0.1, lambda o: s.ExponentialLR(o, gamma=0.9)),
    "exponential_b": (1.0, lambda o: s.ExponentialLR(o, gamma=0.75)),
    "cosine_a": (0.1, lambda o: s.CosineAnnealingLR(o, T_max=10)),
    "cosine_b": (0.05, lambda o: s.CosineAnnealingLR(o, T_max=7, eta_min=0.001)),
    "onecycle_a": (0.1, lambda o: s.OneCycleLR(o, max_lr=0.1, total_steps=30)),
    "onecycle_b": (0.5, lambda o: s.OneCycleLR(o, max_lr=0.5, total_steps=40, pct_start=0.25, div_factor=10.0,
                                               final_div_factor=100.0, three_phase=True)),
    "linear_a": (0.1, lambda o: s.LinearLR(o)),
    "linear_b": (0.2, lambda o: s.LinearLR(o, start_factor=0.5, end_factor=0.1, total_iters=12)),
}


def main():
    out = {}
    for name, (lr, make) in SETTINGS.items():
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr, momentum=0.9)
        sched = make(opt)
        seq = []
        for _ in range(STEPS):
            seq.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
        out[name] = np.array(seq, dtype=np.float32)
    path = Path(__file__).resolve().parent.parent / "tests/fixtures/lr_schedules.safetensors"
    save_file(out, str(path), metadata={"torch": torch.__version__})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
