#!/usr/bin/env python3
"""What data parallelism over MPI costs on one machine: a training step of the benchmark nets
as one process with 2 threads (`train_step`) against 2 processes with 1 thread each
(`train_step_dist` under `mpirun -np 2`), the same global batch, and the payload bytes each rank
sends per step. The ratio (2 x 1 over 1 x 2) is the overhead of the reduction and of running
two processes instead of two threads: 1.0 would be free.

Both sides are `cargo bench --bench timing` built with `--features mpi` (`run NET train B` and
`dist NET B`); each case runs `--rounds` times interleaved and each side keeps its best median.
`mpirun --bind-to none`: OpenMPI binds each of 1 or 2 processes to one core by default, which
would put a rank's threads (and its communication thread) on that core alone. Needs only
OpenMPI (`apt-get install libopenmpi-dev openmpi-bin`), no Python packages.

Usage: python3 tools/dist_bench.py [--rounds 3] [--nets lenet seednet vgg resnet18 resnet50 mobilenet_v2]
"""
import argparse
import json
import os
import re
import subprocess
import sys

# (net, global batch, input size): BENCH_NETS.md's training cases.
CASES = {
    "lenet": (64, 28),
    "seednet": (64, 32),
    "vgg": (64, 32),
    "resnet18": (16, 64),
    "resnet50": (16, 64),
    "mobilenet_v2": (16, 64),
}


def timing_binary(root):
    out = subprocess.run(
        ["cargo", "bench", "--features", "mpi", "--bench", "timing", "--no-run"],
        cwd=root, capture_output=True, text=True, check=True,
    )
    found = re.findall(r"\((\S+/timing-[0-9a-f]+)\)", out.stderr + out.stdout)
    if not found:
        sys.exit("could not find the timing benchmark's executable in cargo's output:\n" + out.stderr)
    return found[-1]


def one(cmd, env):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")
    line = [l for l in out.stdout.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--nets", nargs="+", default=list(CASES))
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    exe = timing_binary(root)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"# {cpu}, {os.cpu_count()} logical CPUs, OpenMPI on one host (shared memory)\n")
    print("| net | global batch | 1 process x 2 threads (ms) | 2 processes x 1 thread (ms) | ratio | bytes sent per step per rank | parameters x 4 bytes |")
    print("|---|---|---|---|---|---|---|")
    for net in args.nets:
        batch, size = CASES[net]
        best_one, best_two, sent, params = float("inf"), float("inf"), 0, 0
        for _ in range(args.rounds):
            env = dict(os.environ, RAYON_NUM_THREADS="2")
            r = one([exe, "run", net, "train", str(batch), str(size)], env)
            best_one = min(best_one, r["ms"])
            r = one(["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "2", "-x", "RAYON_NUM_THREADS=1",
                     exe, "dist", net, str(batch), str(size)], os.environ)
            best_two = min(best_two, r["ms"])
            sent, params = r["bytes_per_step"], r["params"]
        print(f"| {net} | {batch} | {best_one:.2f} | {best_two:.2f} | {best_two / best_one:.2f} | {sent:,} | {4 * params:,} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
