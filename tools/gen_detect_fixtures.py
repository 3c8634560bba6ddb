#!/usr/bin/env python3
"""Fixtures for `cnn::detect` (tests/detect.rs): torchvision.ops' box operations on cases that
matter, written to tests/fixtures/detect/ops.safetensors.

    python3 tools/gen_detect_fixtures.py   # needs torch and torchvision

Each case `C` has `C.boxes` ([N, 4] xyxy, float32), `C.scores`, `C.classes` (int64), and for
each IoU threshold `T` in THRESHOLDS the indices `torchvision.ops.nms` keeps (`C.nms.T`) and
`batched_nms` keeps (`C.batched.T`); `C.iou` / `C.giou` are `box_iou(boxes, boxes)` and
`generalized_box_iou(boxes, boxes)` (NaN where two boxes of no area meet, as torchvision
gives), `C.area` is `box_area`, and `C.FROM.TO` is `box_convert(boxes, FROM, TO)` for every
pair of formats (the same four numbers read in format FROM). Cases: random boxes with tied scores; identical boxes with equal scores;
nested and touching boxes; degenerate boxes (zero width, zero height, points); one box; none.
"""

import pathlib

import torch
from safetensors.torch import save_file
from torchvision import ops

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "detect"
THRESHOLDS = ("0.3", "0.5", "0.7")
FORMATS = ("xyxy", "xywh", "cxcywh")


def random_case(n, classes, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 60
    wh = torch.rand(n, 2, generator=g) * 30 + 1
    boxes = torch.cat([xy, xy + wh], 1)
    # Scores on a coarse grid, so that several are equal.
    scores = (torch.rand(n, generator=g) * 8).floor() / 8
    return boxes, scores, torch.randint(0, classes, (n,), generator=g)


def cases():
    yield "random", *random_case(60, 3, 1)
    yield "crowded", *random_case(40, 1, 2)
    same = torch.tensor([[5.0, 5.0, 15.0, 15.0]] * 4 + [[6.0, 5.0, 16.0, 15.0], [40.0, 0.0, 50.0, 8.0]])
    yield "ties", same, torch.tensor([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]), torch.tensor([0, 1, 0, 1, 0, 0])
    nested = torch.tensor([[0.0, 0.0, 20.0, 20.0], [5.0, 5.0, 15.0, 15.0], [20.0, 0.0, 30.0, 20.0],
                           [0.0, 20.0, 20.0, 30.0], [2.0, 2.0, 18.0, 18.0]])
    yield "nested", nested, torch.tensor([0.9, 0.8, 0.7, 0.6, 0.85]), torch.tensor([0, 0, 0, 1, 1])
    degenerate = torch.tensor([[3.0, 3.0, 3.0, 9.0], [3.0, 3.0, 9.0, 3.0], [4.0, 4.0, 4.0, 4.0],
                               [4.0, 4.0, 4.0, 4.0], [0.0, 0.0, 10.0, 10.0], [3.0, 3.0, 3.0, 9.0]])
    yield "degenerate", degenerate, torch.tensor([0.9, 0.8, 0.7, 0.7, 0.6, 0.95]), torch.tensor([0, 0, 1, 1, 0, 0])
    yield "single", torch.tensor([[1.0, 2.0, 3.0, 5.0]]), torch.tensor([0.3]), torch.tensor([2])
    yield "empty", torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64)


def main():
    out = {}
    for name, boxes, scores, classes in cases():
        out[f"{name}.boxes"] = boxes
        out[f"{name}.scores"] = scores
        out[f"{name}.classes"] = classes.to(torch.int64)
        for t in THRESHOLDS:
            out[f"{name}.nms.{t}"] = ops.nms(boxes, scores, float(t))
            out[f"{name}.batched.{t}"] = ops.batched_nms(boxes, scores, classes, float(t))
        out[f"{name}.iou"] = ops.box_iou(boxes, boxes)
        out[f"{name}.giou"] = ops.generalized_box_iou(boxes, boxes)
        out[f"{name}.area"] = ops.box_area(boxes)
        for a in FORMATS:
            for b in FORMATS:
                if a != b:
                    out[f"{name}.{a}.{b}"] = ops.box_convert(boxes, a, b)
    OUT.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in out.items()}, str(OUT / "ops.safetensors"))
    print(f"wrote {OUT / 'ops.safetensors'} ({len(out)} tensors)")


if __name__ == "__main__":
    main()
