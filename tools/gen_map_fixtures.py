#!/usr/bin/env python3
"""The fixture of `cnn::metrics::MeanAveragePrecision` (tests/detect.rs): pycocotools' COCOeval
on synthetic detections, written to tests/fixtures/detect/map.safetensors.

    pip install pycocotools torch safetensors && python3 tools/gen_map_fixtures.py

For each case C: per image i, `C.i.boxes` ([n, 4] xyxy), `C.i.scores`, `C.i.labels`,
`C.i.gt_boxes`, `C.i.gt_labels`, and `C.stats` = COCOeval(iouType="bbox").stats[:3] (AP at
0.50:0.95, 0.50, 0.75) as float64; `C.images` the image count. Cases: "mixed" (40 images,
4 classes: found objects with noisy boxes, misses, false positives, tied scores, images without
objects, a class detected but never present), "perfect" (every object found exactly) and
"none" (objects, no detections).
"""

import contextlib
import io
import pathlib

import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from safetensors.torch import save_file

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "detect"


def rand_boxes(g, n):
    xy = torch.rand(n, 2, generator=g) * 80
    wh = torch.rand(n, 2, generator=g) * 40 + 4
    return torch.cat([xy, xy + wh], 1)


def mixed(g):
    images = []
    for i in range(40):
        n = int(torch.randint(0, 6, (1,), generator=g))
        gt = rand_boxes(g, n)
        gt_labels = torch.randint(0, 3, (n,), generator=g)
        found = torch.rand(n, generator=g) < 0.75
        boxes = gt[found] + torch.randn(int(found.sum()), 4, generator=g) * 3
        boxes = torch.cat([torch.minimum(boxes[:, :2], boxes[:, 2:] - 1), boxes[:, 2:]], 1)
        labels = gt_labels[found]
        extra = int(torch.randint(0, 3, (1,), generator=g))
        boxes = torch.cat([boxes, rand_boxes(g, extra)])
        labels = torch.cat([labels, torch.randint(0, 4, (extra,), generator=g)])  # class 3: never present
        # Scores on a grid of 20 values: ties within and across images.
        scores = (torch.rand(len(boxes), generator=g) * 20).floor() / 20 + 0.025
        images.append((boxes, scores, labels, gt, gt_labels))
    return images


def perfect(g):
    images = []
    for i in range(5):
        gt = rand_boxes(g, 3)
        gt_labels = torch.tensor([0, 1, 1])
        images.append((gt.clone(), torch.tensor([0.9, 0.8, 0.7]), gt_labels.clone(), gt, gt_labels))
    return images


def none(g):
    gt = rand_boxes(g, 2)
    return [(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64), gt, torch.tensor([0, 2]))]


def coco_stats(images):
    gt = {"images": [], "annotations": [], "categories": [{"id": c} for c in range(4)]}
    dt = []
    for i, (boxes, scores, labels, gtb, gtl) in enumerate(images, 1):
        gt["images"].append({"id": i})
        for b, l in zip(gtb.tolist(), gtl.tolist()):
            w, h = b[2] - b[0], b[3] - b[1]
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": i, "category_id": l,
                                      "bbox": [b[0], b[1], w, h], "area": w * h, "iscrowd": 0})
        for b, s, l in zip(boxes.tolist(), scores.tolist(), labels.tolist()):
            dt.append({"image_id": i, "category_id": l, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": s})
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        if not dt:
            return [-1.0 if not gt["annotations"] else 0.0] * 3
        e = COCOeval(coco, coco.loadRes(dt), "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return list(e.stats[:3])


def main():
    g = torch.Generator().manual_seed(12)
    out = {}
    for name, make in (("mixed", mixed), ("perfect", perfect), ("none", none)):
        images = make(g)
        out[f"{name}.images"] = torch.tensor([len(images)], dtype=torch.int64)
        for i, (boxes, scores, labels, gtb, gtl) in enumerate(images):
            # The boxes as float32, which is what both sides read.
            out[f"{name}.{i}.boxes"] = boxes.float().reshape(-1, 4)
            out[f"{name}.{i}.scores"] = scores.float()
            out[f"{name}.{i}.labels"] = labels.to(torch.int64)
            out[f"{name}.{i}.gt_boxes"] = gtb.float().reshape(-1, 4)
            out[f"{name}.{i}.gt_labels"] = gtl.to(torch.int64)
        # pycocotools reads the float32 values (as Python floats), as ours does.
        f32 = [(b.float(), s.float(), l, gb.float(), gl) for b, s, l, gb, gl in images]
        out[f"{name}.stats"] = torch.tensor(coco_stats(f32), dtype=torch.float64)
        print(name, out[f"{name}.stats"].tolist())
    OUT.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in out.items()}, str(OUT / "map.safetensors"))


if __name__ == "__main__":
    main()
