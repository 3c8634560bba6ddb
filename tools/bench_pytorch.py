#!/usr/bin/env python3
"""PyTorch timings of the benchmark nets, the cases `cargo bench` (benches/nets.rs) measures:
inference at batch 1 and 64 under torch.no_grad(), and a training step at batch 64 (forward,
mean cross-entropy, backward, SGD lr 0.01 momentum 0.9), median of 20 samples after warm-up,
each sample repeating the call for at least 2 ms.

Usage: python3 tools/bench_pytorch.py [--threads N]
"""
import argparse
import statistics
import time

import torch
from torch import nn


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def seednet():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(1024, 500), nn.ReLU(), nn.Linear(500, 10))


def vgg():
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(8192, 10))


def double_conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Skip(nn.Module):
    """cat(x, inner(x)) along channels: a U-Net level's skip, the DSL's `cat { identity seq { ... } }`."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return torch.cat([x, self.inner(x)], 1)


class UNet(nn.Module):
    """The benchmark U-Net (`cnn::nets::UNet`): 3x128x128, 4 classes a pixel."""

    def __init__(self):
        super().__init__()
        level3 = nn.Sequential(nn.MaxPool2d(2), double_conv(64, 128), nn.ConvTranspose2d(128, 64, 2, stride=2))
        level2 = nn.Sequential(nn.MaxPool2d(2), double_conv(32, 64), Skip(level3), double_conv(128, 64),
                               nn.ConvTranspose2d(64, 32, 2, stride=2))
        level1 = nn.Sequential(nn.MaxPool2d(2), double_conv(16, 32), Skip(level2), double_conv(64, 32),
                               nn.ConvTranspose2d(32, 16, 2, stride=2))
        self.net = nn.Sequential(double_conv(3, 16), Skip(level1), double_conv(32, 16), nn.Conv2d(16, 4, 1))

    def forward(self, x):
        return self.net(x)


def unet():
    return UNet()


def median_ms(f):
    start = time.perf_counter()
    reps = 0
    while time.perf_counter() - start < 0.2 or reps < 3:
        f()
        reps += 1
    per_call = (time.perf_counter() - start) / reps
    inner = max(1, int(0.002 / per_call))
    samples = []
    for _ in range(20):
        t = time.perf_counter()
        for _ in range(inner):
            f()
        samples.append((time.perf_counter() - t) / inner)
    return statistics.median(samples) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"PyTorch {torch.__version__}, {args.threads} threads, median of 20, milliseconds")
    print("| net | mode | ms |\n|---|---|---|")
    for name, make, shape in [("lenet", lenet, (1, 28, 28)), ("seednet", seednet, (3, 32, 32)), ("vgg", vgg, (3, 32, 32))]:
        model = make().eval()
        for batch in (1, 64):
            x = torch.rand(batch, *shape)
            with torch.no_grad():
                ms = median_ms(lambda: model(x))
            print(f"| {name} | infer b{batch} | {ms:.3f} |")
        x = torch.rand(64, *shape)
        labels = torch.arange(64) % 10
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        model.train()

        def step():
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), labels).backward()
            opt.step()

        print(f"| {name} | train b64 | {median_ms(step):.3f} |")


if __name__ == "__main__":
    main()
