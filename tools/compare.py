#!/usr/bin/env python3
"""Side-by-side timing of cnn, PyTorch and onnxruntime on the benchmark nets, in one run.

For each thread count, each case (net, mode, batch) is measured by all three frameworks back to
back, and the whole sweep is repeated (interleaved, so drift hits all three alike); each
framework's time is the best of the rounds' medians. Every median is of 20 samples, each sample
repeating the call for at least 2 ms after a warm-up (cnn: `cargo bench --bench timing`, the same
method). The table gives milliseconds, cnn's GFLOP/s and its share of the machine's FP32 peak
(measured with an FMA loop, times the threads), and the ratios cnn/PyTorch and cnn/onnxruntime
(below 1: cnn is faster). Then the peak resident memory of warm training steps, each framework
in a fresh process: the peak is reset (`/proc/self/clear_refs`) just before the network is
built, and the table gives the growth above the memory the process held then.

Cases (the performance issue's table): lenet, seednet, vgg (BENCH_NETS.md): inference at batch
1 and 64, a training step at batch 64 (mean cross-entropy, SGD lr 0.01 momentum 0.9);
torchvision's resnet18, resnet50, mobilenet_v2, densenet121, efficientnet_b0 and convnext_tiny
(`cnn::models` on the cnn side): inference at batch 1 on 3x224x224, resnet18 and resnet50 also
on 3x64x64 (small maps), and a training step at batch 16 on 3x64x64; the U-Net of dense
prediction (`cnn::nets::UNet`, `unet()` in bench_pytorch.py, 3x128x128, 4 classes a pixel):
inference at batch 1 and a training step at batch 8 with the per-pixel cross-entropy. onnxruntime runs inference
only, on the model exported from the same PyTorch module, CPU provider, `intra_op_num_threads`.
After the tables, each framework's batch-1 speed-up from 1 to 2 threads. With `--peers tract`,
tract (sonos's pure-Rust ONNX engine, `into_optimized()`) joins the inference cases as a column,
on the same ONNX files as onnxruntime's; its side is `tools/tract_timing`, a crate outside the
workspace that is built only then.

Usage: pip install torch torchvision onnxruntime onnx onnxscript
       python3 tools/compare.py [--threads 1 2] [--rounds 3] [--nets lenet vgg resnet50 ...] [--modes infer train]
                                [--no-memory] [--peers tract]
"""
import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench_pytorch import lenet, median_ms, seednet, unet, vgg  # noqa: E402

# (net, mode, batch, input side); the benchmark nets have one size each (None).
CASES = [
    ("lenet", "infer", 1, None), ("lenet", "infer", 64, None), ("lenet", "train", 64, None),
    ("seednet", "infer", 1, None), ("seednet", "infer", 64, None), ("seednet", "train", 64, None),
    ("vgg", "infer", 1, None), ("vgg", "infer", 64, None), ("vgg", "train", 64, None),
    ("resnet18", "infer", 1, 224), ("resnet18", "infer", 1, 64), ("resnet18", "train", 16, 64),
    ("resnet50", "infer", 1, 224), ("resnet50", "infer", 1, 64), ("resnet50", "train", 16, 64),
    ("mobilenet_v2", "infer", 1, 224), ("mobilenet_v2", "train", 16, 64),
    ("densenet121", "infer", 1, 224), ("densenet121", "train", 16, 64),
    ("efficientnet_b0", "infer", 1, 224), ("efficientnet_b0", "train", 16, 64),
    ("convnext_tiny", "infer", 1, 224), ("convnext_tiny", "train", 16, 64),
    ("unet", "infer", 1, None), ("unet", "train", 8, None),
]

TORCHVISION = ("resnet18", "resnet50", "mobilenet_v2", "densenet121", "efficientnet_b0", "convnext_tiny")


def shape(net, size=None):
    if net == "lenet":
        return (1, 28, 28)
    if net == "unet":
        return (3, 128, 128)
    if net in TORCHVISION:
        return (3, size, size)
    return (3, 32, 32)


def make(net):
    if net in TORCHVISION:
        import torchvision
        return getattr(torchvision.models, net)()
    return {"lenet": lenet, "seednet": seednet, "vgg": vgg, "unet": unet}[net]()


def labels_for(net, batch):
    """Class indices for a training step: one a sample of 10 classes, or for the U-Net one a
    pixel of 4 (its map output, the per-pixel cross-entropy), as benches/timing.rs makes them."""
    if net == "unet":
        return torch.arange(batch * 128 * 128).reshape(batch, 128, 128) % 4
    return torch.arange(batch) % 10


class Cnn:
    def __init__(self):
        out = subprocess.run(["cargo", "bench", "--bench", "timing", "--no-run", "--message-format=json"],
                             cwd=ROOT, check=True, capture_output=True, text=True).stdout
        exes = [json.loads(line).get("executable") for line in out.splitlines() if '"executable"' in line]
        self.exe = [e for e in exes if e][-1]

    def call(self, args, threads):
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        out = subprocess.run([self.exe, *map(str, args)], check=True, capture_output=True, text=True, env=env).stdout
        return json.loads(out.strip().splitlines()[-1])

    def time(self, net, mode, batch, size, threads):
        r = self.call(["run", net, mode, batch, *([size] if size else [])], threads)
        return r["ms"], r["flops"]


class Torch:
    def __init__(self):
        self.models = {}

    def time(self, net, mode, batch, size, threads):
        torch.set_num_threads(threads)
        model = self.models.setdefault(net, make(net))
        x = torch.rand(batch, *shape(net, size))
        if mode == "infer":
            model.eval()
            with torch.no_grad():
                return median_ms(lambda: model(x))
        model.train()
        labels = labels_for(net, batch)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), labels).backward()
            opt.step()

        return median_ms(step)


def onnx_model(net, batch, size):
    """The ONNX export of the PyTorch module that the PyTorch column times, for one input shape."""
    model = make(net).eval()
    x = torch.rand(batch, *shape(net, size))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), buf, input_names=["x"], output_names=["y"], dynamo=False)
    return buf.getvalue()


class Ort:
    def __init__(self):
        import onnxruntime
        self.ort = onnxruntime
        self.sessions = {}

    def session(self, net, batch, size, threads):
        key = (net, batch, size, threads)
        if key not in self.sessions:
            opts = self.ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            model = onnx_model(net, batch, size)
            self.sessions[key] = self.ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        return self.sessions[key]

    def time(self, net, mode, batch, size, threads):
        if mode != "infer":
            return None
        s = self.session(net, batch, size, threads)
        x = {"x": torch.rand(batch, *shape(net, size)).numpy()}
        return median_ms(lambda: s.run(None, x))


class Tract:
    """tract's side: `tools/tract_timing` (built here, in release mode) on the ONNX file that
    onnxruntime runs, written once per shape into a temporary folder."""

    def __init__(self):
        import tempfile
        manifest = ROOT / "tools" / "tract_timing" / "Cargo.toml"
        out = subprocess.run(["cargo", "build", "--release", "--manifest-path", str(manifest), "--message-format=json"],
                             cwd=ROOT, check=True, capture_output=True, text=True).stdout
        exes = [json.loads(line).get("executable") for line in out.splitlines() if '"executable"' in line]
        self.exe = [e for e in exes if e][-1]
        self.dir = tempfile.mkdtemp(prefix="tract_models_")
        self.files = {}

    def time(self, net, mode, batch, size, threads):
        if mode != "infer":
            return None
        key = (net, batch, size)
        if key not in self.files:
            path = Path(self.dir) / f"{net}_{batch}_{size}.onnx"
            path.write_bytes(onnx_model(net, batch, size))
            self.files[key] = path
        dims = [batch, *shape(net, size)]
        out = subprocess.run([self.exe, str(self.files[key]), *map(str, dims), str(threads)],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])["ms"]


TORCH_MEMORY = """
import sys, torch
sys.path.insert(0, {tools!r})
from compare import labels_for, make, shape

def status(key):
    return next(float(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith(key))

torch.set_num_threads({threads})
make({net!r})  # imports and first-use allocations out of the way
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS:")
model = make({net!r}).train()
x = torch.rand({batch}, *shape({net!r}, {size!r}))
labels = labels_for({net!r}, {batch})
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
for _ in range(3):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), labels).backward()
    opt.step()
print(status("VmHWM:"), before)
"""


def label(net, size):
    return net if size is None else f"{net} {size}"


def fmt(v, digits=3):
    if v is None:
        return "–"
    return f"{v:.{digits}g}" if v < 100 else f"{v:.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--nets", nargs="+", default=["lenet", "seednet", "vgg", *TORCHVISION, "unet"])
    ap.add_argument("--modes", nargs="+", default=["infer", "train"])
    ap.add_argument("--no-memory", action="store_true", help="skip the training-memory table")
    ap.add_argument("--peers", nargs="*", default=[], choices=["tract"],
                    help="more frameworks to time beside PyTorch and onnxruntime (inference only)")
    args = ap.parse_args()
    cases = [c for c in CASES if c[0] in args.nets and c[1] in args.modes]
    cnn, pt, ort = Cnn(), Torch(), Ort()
    tract = Tract() if "tract" in args.peers else None
    peak = cnn.call(["peak"], 1)["gflops_per_core"]
    import onnxruntime
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    print(f"{cpu}, {os.cpu_count()} CPUs; FMA peak {peak:.0f} GFLOP/s per core (FP32)")
    print(f"PyTorch {torch.__version__}, onnxruntime {onnxruntime.__version__}; best of {args.rounds} interleaved medians of 20, ms\n")
    extra = " tract |" if tract else ""
    print(f"| net | mode | threads | cnn | PyTorch | onnxruntime |{extra} cnn GFLOP/s | % of peak | cnn / PyTorch | cnn / ORT |"
          + (" cnn / tract |" if tract else ""))
    print("|---" * (12 if tract else 10) + "|")
    by_threads = {}
    for threads in args.threads:
        best = by_threads[threads] = {}
        for _ in range(args.rounds):
            for case in cases:
                ms, flops = cnn.time(*case, threads)
                results = [ms, pt.time(*case, threads), ort.time(*case, threads),
                           tract.time(*case, threads) if tract else None]
                old = best.get(case, [None, None, None, None, flops])
                best[case] = [r if o is None else (o if r is None else min(o, r)) for r, o in zip(results, old[:4])] + [flops]
        for (net, mode, batch, size), (c, p, o, t, flops) in best.items():
            gflops = flops / c * 1e-6
            share = 100 * gflops / (peak * threads)
            ratio = lambda peer: "–" if peer is None else f"{c / peer:.2f}"  # noqa: E731
            print(f"| {label(net, size)} | {mode} b{batch} | {threads} | {fmt(c)} | {fmt(p)} | {fmt(o)} |"
                  + (f" {fmt(t)} |" if tract else "")
                  + f" {gflops:.0f} | {share:.0f}% | {c / p:.2f} | {ratio(o)} |" + (f" {ratio(t)} |" if tract else ""))
        sys.stdout.flush()
    if 1 in by_threads and 2 in by_threads:
        print("\nBatch-1 inference, speed-up from 1 to 2 threads (time on 1 / time on 2):\n")
        print("| net | cnn | PyTorch | onnxruntime |" + (" tract |" if tract else "") + "\n" + "|---" * (5 if tract else 4) + "|")
        for case in cases:
            net, mode, batch, size = case
            if mode == "infer" and batch == 1:
                one, two = by_threads[1][case], by_threads[2][case]
                n = 4 if tract else 3
                print(f"| {label(net, size)} | " + " | ".join(f"{a / b:.2f}" for a, b in zip(one[:n], two[:n])) + " |")
    if args.no_memory:
        return
    print("\nPeak resident memory of warm training steps above the process's memory before, MiB:\n")
    print("| net | batch | cnn | PyTorch | cnn / PyTorch |\n|---|---|---|---|---|")
    for net, mode, batch, size in cases:
        if mode != "train":
            continue
        m = cnn.call(["memory", net, batch, *([size] if size else [])], 1)
        code = TORCH_MEMORY.format(tools=str(ROOT / "tools"), threads=1, net=net, batch=batch, size=size)
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
        ours, theirs = m["peak_mib"] - m["baseline_mib"], float(out[0]) - float(out[1])
        print(f"| {net} | {batch} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
