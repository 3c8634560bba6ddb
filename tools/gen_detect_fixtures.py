#!/usr/bin/env python3
"""Fixtures for `cnn::detect` (tests/detect.rs): torchvision.ops' box operations on cases that
matter, written to tests/fixtures/detect/ops.safetensors.

    python3 tools/gen_detect_fixtures.py   # needs torch and torchvision

`BoxCoder`: `coder.W.encode` = `BoxCoder(W).encode_single(coder.boxes, coder.references)` and
`coder.W.decode` = `decode_single(coder.codes, coder.references)` (some log-scales past the
clip) for weights W in WEIGHTS; `coder.linear.encode` / `.decode` the same with
`BoxLinearCoder(normalize_by_size=True)` (FCOS). `Matcher`: `matcher.H.L.A` = `Matcher(H, L, A)(matcher.quality)`
(-1 below, -2 between; `quality` a box_iou of 6 ground-truth boxes, two of them equal, against
40 predictions).

`AnchorGenerator`: `anchors.retinanet` are RetinaNet's anchors (sizes 32..512 with the two
intermediate octaves, ratios 0.5, 1, 2) for a 64x80 image with maps of 8x10, 4x5, 2x3, 1x2 and
1x1 (strides 8, 16, 32 by 26, 64 by 40, 64 by 80); `anchors.odd` one level of sizes (20, 45),
ratios (0.3, 1.7) on a 3x3 map of the same image (strides 21 by 26). `DefaultBoxGenerator`:
`anchors.ssdlite` SSDlite320's (ratios [2, 3] at 6 levels, 0.2..0.95) on 320x320 with maps
20, 10, 5, 3, 2, 1; `anchors.ssd300` SSD300's (its scales and steps, ratios [2], [2, 3] ..., no
clip) on 300x300 with maps 38, 19, 10, 5, 3, 1.

RetinaNet's post-processing: `post.L.logits` ([anchors, 5]), `post.L.codes` and
`post.L.anchors` for levels L = 0, 1 of a 64x80 image, and `post.boxes`, `post.scores`,
`post.labels` from `RetinaNet.postprocess_detections` with score_thresh 0.05, nms_thresh 0.5,
detections_per_img 15 and topk_candidates 20 (so that both cuts bite); `post.L.ctrness` and
`post.fcos.boxes` / `.scores` / `.labels` from `FCOS.postprocess_detections` on the same levels
with centre-ness logits, score_thresh 0.2, nms_thresh 0.6, detections_per_img 12,
topk_candidates 25, `BoxLinearCoder(normalize_by_size=True)`; `post.L.ssd_logits` ([anchors, 4],
class 0 the background) and `post.ssd.boxes` / `.scores` / `.labels` from
`SSD.postprocess_detections` on the levels' anchors and codes concatenated, score_thresh 0.2,
nms_thresh 0.45, detections_per_img 10, topk_candidates 8, BoxCoder (10, 10, 5, 5).

`roi_align`: `roi.input` ([2, 3, 12, 10]) and `roi.boxes` ([K, 5], regions inside, across the
border, outside, smaller than a pixel), and `roi.S.R.A` = `roi_align(roi.input, roi.boxes,
(3, 2), spatial_scale=S, sampling_ratio=R, aligned=A)` for the settings in ROI, with
`roi.S.R.A.grad_output` (random) and `roi.S.R.A.grad_input`, autograd's gradient of the input;
`rpn.*` and `roi_heads.*`: Faster R-CNN's post-processing around its networks (`two_stage`);
`msroi.L` ([2, 3, H, W] at strides 4, 8, 16 of a 64x80 image), `msroi.boxes` ([K, 5], small to
large) and `msroi.out` = `MultiScaleRoIAlign(["0", "1", "2"], 3, 2, canonical_scale=32)` of them.

The detectors' image transform: `transform.image` ([3, 50, 70] in [0, 1]) through
`GeneralizedRCNNTransform(min_size=64, max_size=100, ImageNet mean and std)` in eval mode:
`transform.out` and `transform.size`; and `transform.boxes` mapped from that size back to 50x70
by its `postprocess` (`transform.back`).

Losses (`reduction="sum"`, computed in float64 from the float32 inputs, with autograd's
gradient with respect to the first argument): `focal.A.G.loss` / `.grad` for
`sigmoid_focal_loss(focal.inputs, focal.targets, A, G)`, `smooth_l1.B.loss` / `.grad` for
`F.smooth_l1_loss(smooth_l1.input, smooth_l1.target, beta=B)`, `giou.loss` / `giou.grad` for
`generalized_box_iou_loss(giou.boxes1, giou.boxes2, eps=1e-7)`.

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
WEIGHTS = {"1.1.1.1": (1.0, 1.0, 1.0, 1.0), "10.10.5.5": (10.0, 10.0, 5.0, 5.0)}
MATCHERS = (("0.5", "0.4", "false"), ("0.5", "0.4", "true"), ("0.7", "0.3", "true"))
FOCAL = (("0.25", "2.0"), ("-1.0", "0.0"), ("0.5", "1.5"))
BETAS = ("0.1111111", "1.0", "0.0")
ROI = (("1.0", "2", "true"), ("0.5", "0", "false"), ("0.5", "0", "true"), ("0.25", "3", "false"))
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


def with_grad(f, x, *rest):
    x = x.double().requires_grad_()
    loss = f(x, *rest)
    loss.backward()
    return loss.detach().float().reshape(1), x.grad.float()


def losses(out):
    g = torch.Generator().manual_seed(8)
    inputs = torch.randn(50, generator=g) * 3
    targets = (torch.rand(50, generator=g) > 0.7).float()
    targets[:5] = torch.tensor([0.3, 0.7, 0.5, 1.0, 0.0])  # soft targets too
    out["focal.inputs"], out["focal.targets"] = inputs, targets
    for a, gm in FOCAL:
        out[f"focal.{a}.{gm}.loss"], out[f"focal.{a}.{gm}.grad"] = with_grad(
            lambda x, t: ops.sigmoid_focal_loss(x, t, float(a), float(gm), reduction="sum"), inputs, targets.double())
    x, y = torch.randn(40, generator=g), torch.randn(40, generator=g)
    y[:3] = x[:3] + torch.tensor([0.05, -0.05, 0.0])
    out["smooth_l1.input"], out["smooth_l1.target"] = x, y
    for b in BETAS:
        out[f"smooth_l1.{b}.loss"], out[f"smooth_l1.{b}.grad"] = with_grad(
            lambda v, w: torch.nn.functional.smooth_l1_loss(v, w, beta=float(b), reduction="sum"), x, y.double())
    boxes2, _, _ = random_case(30, 1, 9)
    boxes1 = boxes2 + torch.randn(30, 4, generator=g) * 4
    boxes1 = torch.cat([torch.minimum(boxes1[:, :2], boxes1[:, 2:] - 0.5), boxes1[:, 2:]], 1)
    boxes1[:3] = boxes2[:3] + torch.tensor([[80.0, 80.0, 80.0, 80.0]])  # apart: no overlap
    out["giou.boxes1"], out["giou.boxes2"] = boxes1, boxes2
    out["giou.loss"], out["giou.grad"] = with_grad(
        lambda b1, b2: ops.generalized_box_iou_loss(b1, b2, reduction="sum", eps=1e-7), boxes1, boxes2.double())


def anchors(out):
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList

    sizes = tuple((x, int(x * 2 ** (1.0 / 3)), int(x * 2 ** (2.0 / 3))) for x in [32, 64, 128, 256, 512])
    images = ImageList(torch.zeros(1, 3, 64, 80), [(64, 80)])
    maps = [torch.zeros(1, 1, h, w) for h, w in ((8, 10), (4, 5), (2, 3), (1, 2), (1, 1))]
    out["anchors.retinanet"] = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 5)(images, maps)[0]
    out["anchors.odd"] = AnchorGenerator(((20, 45),), ((0.3, 1.7),))(images, [torch.zeros(1, 1, 3, 3)])[0]
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator

    square = lambda s: ImageList(torch.zeros(1, 3, s, s), [(s, s)])
    maps = [torch.zeros(1, 1, n, n) for n in (20, 10, 5, 3, 2, 1)]
    out["anchors.ssdlite"] = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)(square(320), maps)[0]
    ssd300 = DefaultBoxGenerator([[2], [2, 3], [2, 3], [2, 3], [2], [2]], scales=[0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05],
                                 steps=[8, 16, 32, 64, 100, 300], clip=False)
    maps = [torch.zeros(1, 1, n, n) for n in (38, 19, 10, 5, 3, 1)]
    out["anchors.ssd300"] = ssd300(square(300), maps)[0]


def postprocess(out):
    import types

    from torchvision.models.detection._utils import BoxCoder
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList
    from torchvision.models.detection.retinanet import RetinaNet

    g = torch.Generator().manual_seed(11)
    images = ImageList(torch.zeros(1, 3, 64, 80), [(64, 80)])
    maps = [torch.zeros(1, 1, 4, 5), torch.zeros(1, 1, 2, 3)]
    gen = AnchorGenerator(((24, 40), (48, 80)), ((0.5, 1.0),) * 2)
    anchors = gen(images, maps)[0]
    split = [4 * 5 * 4, 2 * 3 * 4]
    levels = list(anchors.split(split))
    logits = [torch.randn(n, 5, generator=g) * 2 - 2 for n in split]
    codes = [torch.randn(n, 4, generator=g) * 0.3 for n in split]
    for level, (a, lg, c) in enumerate(zip(levels, logits, codes)):
        out[f"post.{level}.anchors"], out[f"post.{level}.logits"], out[f"post.{level}.codes"] = a, lg, c
    me = types.SimpleNamespace(score_thresh=0.05, nms_thresh=0.5, detections_per_img=15, topk_candidates=20,
                               box_coder=BoxCoder(weights=(1.0, 1.0, 1.0, 1.0)))
    head = {"cls_logits": [lg[None] for lg in logits], "bbox_regression": [c[None] for c in codes]}
    det = RetinaNet.postprocess_detections(me, head, [levels], [(64, 80)])[0]
    out["post.boxes"], out["post.scores"], out["post.labels"] = det["boxes"], det["scores"], det["labels"]

    from torchvision.models.detection._utils import BoxLinearCoder
    from torchvision.models.detection.fcos import FCOS

    ctrness = [torch.randn(n, 1, generator=g) for n in split]
    for level, c in enumerate(ctrness):
        out[f"post.{level}.ctrness"] = c.flatten()
    me = types.SimpleNamespace(score_thresh=0.2, nms_thresh=0.6, detections_per_img=12, topk_candidates=25,
                               box_coder=BoxLinearCoder(normalize_by_size=True))
    head["bbox_ctrness"] = [c[None] for c in ctrness]
    det = FCOS.postprocess_detections(me, head, [levels], [(64, 80)])[0]
    out["post.fcos.boxes"], out["post.fcos.scores"], out["post.fcos.labels"] = det["boxes"], det["scores"], det["labels"]

    from torchvision.models.detection.ssd import SSD

    ssd_logits = [torch.randn(n, 4, generator=g) * 1.5 for n in split]
    for level, lg in enumerate(ssd_logits):
        out[f"post.{level}.ssd_logits"] = lg
    me = types.SimpleNamespace(score_thresh=0.2, nms_thresh=0.45, detections_per_img=10, topk_candidates=8,
                               box_coder=BoxCoder(weights=(10.0, 10.0, 5.0, 5.0)))
    head = {"cls_logits": torch.cat(ssd_logits)[None], "bbox_regression": torch.cat(codes)[None]}
    det = SSD.postprocess_detections(me, head, [torch.cat(levels)], [(64, 80)])[0]
    out["post.ssd.boxes"], out["post.ssd.scores"], out["post.ssd.labels"] = det["boxes"], det["scores"], det["labels"]


def transform(out):
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    g = torch.Generator().manual_seed(13)
    image = torch.rand(3, 50, 70, generator=g)
    t = GeneralizedRCNNTransform(64, 100, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], size_divisible=1).eval()
    images, _ = t([image])
    h, w = images.image_sizes[0]
    out["transform.image"], out["transform.out"] = image, images.tensors[0, :, :h, :w].contiguous()
    out["transform.size"] = torch.tensor([h, w], dtype=torch.int64)
    boxes = rand_boxes_xyxy(g, 7, h, w)
    out["transform.boxes"] = boxes
    back = t.postprocess([{"boxes": boxes, "scores": torch.zeros(7), "labels": torch.zeros(7, dtype=torch.int64)}],
                         [(h, w)], [(50, 70)])[0]["boxes"]
    out["transform.back"] = back


def multiscale(out):
    g = torch.Generator().manual_seed(14)
    feats = {str(k): torch.randn(2, 3, 64 >> (k + 2), 80 >> (k + 2), generator=g) for k in range(3)}
    per_image = [torch.tensor([[1.0, 2.0, 9.0, 7.0], [3.0, 4.0, 60.0, 50.0], [0.0, 0.0, 79.0, 63.0]]),
                 torch.tensor([[10.0, 12.0, 30.0, 40.0], [5.0, 5.0, 6.0, 6.5], [20.0, 1.0, 75.0, 60.0],
                               [40.0, 30.0, 56.0, 47.0]])]
    # canonical_scale 32, so that these boxes fall on all three levels (224 would put them on the first).
    pooled = ops.MultiScaleRoIAlign(["0", "1", "2"], 3, 2, canonical_scale=32)(feats, per_image, [(64, 80), (64, 80)])
    for k, f in feats.items():
        out[f"msroi.{k}"] = f
    out["msroi.boxes"] = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b], 1) for i, b in enumerate(per_image)])
    out["msroi.out"] = pooled


def rand_boxes_xyxy(g, n, h, w):
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w / 2, h / 2])
    return torch.cat([xy, xy + torch.rand(n, 2, generator=g) * torch.tensor([w / 2, h / 2])], 1)


def roi(out):
    multiscale(out)
    g = torch.Generator().manual_seed(10)
    x = torch.randn(2, 3, 12, 10, generator=g)
    boxes = torch.tensor([
        [0, 1.0, 1.0, 7.0, 9.0], [1, 0.0, 0.0, 19.0, 23.0], [1, 2.3, 4.1, 2.6, 4.4], [0, -6.0, -4.0, 3.0, 5.0],
        [1, 15.0, 20.0, 30.0, 40.0], [0, 8.5, 10.2, 14.9, 30.0], [1, 30.0, 30.0, 50.0, 60.0]])
    out["roi.input"], out["roi.boxes"] = x, boxes
    for s, r, a in ROI:
        out[f"roi.{s}.{r}.{a}"] = ops.roi_align(x, boxes, (3, 2), spatial_scale=float(s),
                                               sampling_ratio=int(r) if r != "0" else -1, aligned=a == "true")
        # The input's gradient for a random output gradient, by autograd in float64.
        xg = x.double().requires_grad_()
        dy = torch.randn(len(boxes), 3, 3, 2, generator=g)
        pooled = ops.roi_align(xg, boxes.double(), (3, 2), spatial_scale=float(s),
                               sampling_ratio=int(r) if r != "0" else -1, aligned=a == "true")
        pooled.backward(dy.double())
        out[f"roi.{s}.{r}.{a}.grad_output"] = dy
        out[f"roi.{s}.{r}.{a}.grad_input"] = xg.grad.float()


def two_stage(out):
    """Faster R-CNN's post-processing around its networks: `RegionProposalNetwork
    .filter_proposals` (eval) on three levels of random anchors, objectness and deltas
    (pre_nms_top_n 30 per level, post_nms_top_n 40, score_thresh 0.05), and `RoIHeads
    .postprocess_detections` on random class logits and regressions of 25 proposals, 6 classes."""
    from torchvision.models.detection.roi_heads import RoIHeads
    from torchvision.models.detection.rpn import RegionProposalNetwork

    g = torch.Generator().manual_seed(11)
    size = (60, 80)
    counts = [48, 20, 6]
    anchors = torch.cat([rand_boxes_xyxy(g, n, 90, 110) - 10 for n in counts])
    objectness = torch.randn(sum(counts), generator=g) * 2
    objectness[5] = objectness[6]
    deltas = torch.randn(sum(counts), 4, generator=g) * 0.3
    rpn = RegionProposalNetwork(None, None, 0.7, 0.3, 256, 0.5, dict(training=0, testing=30), dict(training=0, testing=40),
                                0.7, score_thresh=0.05).eval()
    proposals = rpn.box_coder.decode(deltas, [anchors]).view(1, -1, 4)
    boxes, scores = rpn.filter_proposals(proposals, objectness.view(1, -1), [size], counts)
    out["rpn.anchors"], out["rpn.objectness"], out["rpn.deltas"] = anchors, objectness, deltas
    out["rpn.counts"] = torch.tensor(counts, dtype=torch.int64)
    out["rpn.boxes"], out["rpn.scores"] = boxes[0], scores[0]

    props = rand_boxes_xyxy(g, 25, 60, 80)
    logits = torch.randn(25, 6, generator=g) * 2
    regression = torch.randn(25, 24, generator=g) * 0.5
    heads = RoIHeads(None, None, None, 0.5, 0.5, 512, 0.25, None, 0.05, 0.5, 100)
    b, s, l = heads.postprocess_detections(logits, regression, [props], [size])
    out["roi_heads.proposals"], out["roi_heads.logits"], out["roi_heads.regression"] = props, logits, regression
    out["roi_heads.boxes"], out["roi_heads.scores"], out["roi_heads.labels"] = b[0], s[0], l[0].to(torch.int64)


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
    from torchvision.models.detection._utils import BoxCoder, Matcher

    boxes, _, _ = random_case(30, 1, 3)
    references, _, _ = random_case(30, 1, 4)
    codes = torch.randn(30, 4, generator=torch.Generator().manual_seed(5)) * 2
    codes[:4, 2:] = torch.tensor([[30.0, 0.5], [0.5, 45.0], [50.0, 50.0], [-8.0, 5.0]])
    out["coder.boxes"], out["coder.references"], out["coder.codes"] = boxes, references, codes
    for key, w in WEIGHTS.items():
        coder = BoxCoder(w)
        out[f"coder.{key}.encode"] = coder.encode_single(boxes, references)
        out[f"coder.{key}.decode"] = coder.decode_single(codes, references)
    from torchvision.models.detection._utils import BoxLinearCoder

    linear = BoxLinearCoder(normalize_by_size=True)
    out["coder.linear.encode"] = linear.encode(references, boxes)
    out["coder.linear.decode"] = linear.decode(codes, references)
    gt, _, _ = random_case(6, 1, 6)
    gt[5] = gt[2]
    preds, _, _ = random_case(40, 1, 7)
    preds[:3] = gt[:3]
    quality = ops.box_iou(gt, preds)
    out["matcher.quality"] = quality
    for high, low, allow in MATCHERS:
        m = Matcher(float(high), float(low), allow_low_quality_matches=allow == "true")
        out[f"matcher.{high}.{low}.{allow}"] = m(quality)
    losses(out)
    roi(out)
    transform(out)
    anchors(out)
    postprocess(out)
    two_stage(out)
    OUT.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in out.items()}, str(OUT / "ops.safetensors"))
    print(f"wrote {OUT / 'ops.safetensors'} ({len(out)} tensors)")


if __name__ == "__main__":
    main()
