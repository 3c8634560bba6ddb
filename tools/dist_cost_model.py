#!/usr/bin/env python3
"""When does adding hosts pay? The cost model of `cnn::dist`'s data-parallel step, as a table.

A step on N hosts: each computes its share of the global batch (T_compute / N; the hosts'
shares are whole units, so N may be at most the batch's unit count: batch / 16 above 128
samples), then the gradients (4 bytes a parameter) are summed along the hosts in rank order,
pipelined in 1 MiB chunks, and the last host broadcasts the sum:

    T_comm(N) = (1 + 2) * 4P / B + (N - 1 + log2 N) * (alpha + 1 MiB / B)

one pass of the payload down the chain, about two for a large broadcast (scatter + allgather),
and the pipeline's fill: one chunk per hop. Statistics and the loss add a few kB per batch norm
and are left out. Overlap with the backward pass can hide up to the backward time of the
earlier layers; the table counts none of it (an upper bound on the cost).

Defaults: ResNet-50 (25,557,032 parameters) at 224x224, 32 samples a host (weak scaling, as
DistributedDataParallel users run it), the per-sample training time (142 ms: ResNet-50 at 3x64x64 batch 16 in 185 ms, times 224²/64²) measured with
`tools/dist_bench.py` / `cargo bench --bench timing -- run resnet50 train 16 64` on the
machine given, scaled by the pixel count (224^2 / 64^2).

With `--global G` the global batch is fixed instead (strong scaling) and the table gives the
step time and the speed-up over one host, whose step needs no communication: adding hosts pays
while T_compute / N still falls by more than T_comm grows.

Usage: python3 tools/dist_cost_model.py [--sample-ms 142] [--params 25557032] [--per-host 32 | --global 1024]
                                       [--hosts 2 4 8 16 32 64] [--gbits 10 100] [--alpha-us 50]
"""
import argparse
import math


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample-ms", type=float, default=142.0, help="training time of one sample on one host")
    ap.add_argument("--params", type=int, default=25_557_032)
    ap.add_argument("--per-host", type=int, default=32, help="samples per host per step")
    ap.add_argument("--global", dest="batch", type=int, help="a fixed global batch (strong scaling)")
    ap.add_argument("--hosts", type=int, nargs="+", default=[2, 4, 8, 16, 32, 64])
    ap.add_argument("--gbits", type=float, nargs="+", default=[10, 100])
    ap.add_argument("--alpha-us", type=float, default=50.0, help="latency of one message")
    a = ap.parse_args()
    payload = 4 * a.params

    def comm(n, g):
        b = g * 1e9 / 8
        return 3 * payload / b + (n - 1 + math.log2(n)) * (a.alpha_us * 1e-6 + (1 << 20) / b)

    if a.batch:
        one = a.batch * a.sample_ms / 1e3
        print(f"global batch {a.batch}: {one:.2f} s a step on one host\n")
        print("| hosts | compute (s) | " + " | ".join(f"step at {g:g} Gbit/s (s) | speed-up" for g in a.gbits) + " |")
        print("|" + "---|" * (2 + 2 * len(a.gbits)))
        for n in a.hosts:
            compute = a.batch * a.sample_ms / 1e3 / n
            cells = []
            for g in a.gbits:
                t = compute + comm(n, g)
                cells += [f"{t:.3f}", f"{one / t:.1f}x"]
            print(f"| {n} | {compute:.3f} | " + " | ".join(cells) + " |")
        return
    compute = a.per_host * a.sample_ms / 1e3
    head = "| hosts | global batch | compute (s) | " + " | ".join(
        f"sum at {g:g} Gbit/s (s) | efficiency at {g:g} Gbit/s" for g in a.gbits) + " |"
    print(head)
    print("|" + "---|" * (3 + 2 * len(a.gbits)))
    for n in a.hosts:
        cells = []
        for g in a.gbits:
            c = comm(n, g)
            cells += [f"{c:.3f}", f"{compute / (compute + c):.0%}"]
        print(f"| {n} | {n * a.per_host} | {compute:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
