#!/usr/bin/env python3
"""Generate the fixtures of tests/detection_models.rs: torchvision's detection models as their
COCO weights build them (FrozenBatchNorm2d in the backbone, eps 0 as `overwrite_eps(model, 0.0)`
sets), eval mode, every parameter and buffer a function of its name (`seeded` in
gen_layer_fixtures.py, mirrored by tests/common/mod.rs), so no weights are committed. For each
model, tests/fixtures/zoo/<name>.safetensors:

  "input"            [2, 3, 64, 64] images in [0, 1) from torch.manual_seed(34), already at the
                     size the transform keeps (min_size 64, max_size 64: no resize)
  "keys"             the state_dict as text, one "name shape" line per tensor in PyTorch's order
  "param_count"      sum of numel() over parameters (int64)
  "cls_logits", "bbox_regression" (and FCOS's "bbox_ctrness")
                     the head's outputs for the normalized images, [2, anchors, K],
                     [2, anchors, 4] (and [2, anchors, 1]), computed in float64; "...32":
                     PyTorch's own float32 run
  "det<i>.boxes", "det<i>.scores", "det<i>.labels"
                     the model's detections for image i (the whole forward: transform, backbone,
                     head, anchors, postprocess_detections) in float64; "det32<i>.*" in float32

fasterrcnn_mobilenet_v3_large_fpn (two stages) has, besides "input", "keys", "param_count" and
the detections:
  "objectness", "pred_bbox_deltas"
                     the RPN head's outputs over the three levels, [2, anchors] and
                     [2, anchors, 4] (`concat_box_prediction_layers`), float64 ("...32": float32)
  "proposals<i>"     the RPN's proposals for image i, [K, 4], float64 ("proposals32<i>": float32)
  "class_logits", "box_regression"
                     the box head's outputs on the float64 proposals of both images (pooled by
                     MultiScaleRoIAlign, in order), [2K, 91] and [2K, 364], float64 ("...32":
                     the float32 model on the same proposals)
Its RoI heads keep regions scoring over 0.012 instead of 0.05: with weights seeded from names
the 91 classes' softmax stays near 1/91, and the default would keep no detection.

Usage: pip install torch torchvision safetensors numpy && python3 tools/gen_detection_fixtures.py
"""
import copy
import sys
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import _mobilenet_extractor, _resnet_fpn_extractor
from torchvision.models.detection.faster_rcnn import FasterRCNN
from torchvision.models.detection.fcos import FCOS
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_layer_fixtures import fill_seeded  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "zoo"
SIZE = 64


def frozen_resnet50():
    return torchvision.models.resnet50(weights=None, norm_layer=torchvision.ops.FrozenBatchNorm2d)


def overwrite_eps(model, eps):
    for m in model.modules():
        if isinstance(m, torchvision.ops.FrozenBatchNorm2d):
            m.eps = eps


def retinanet_resnet50_fpn():
    """`retinanet_resnet50_fpn(weights=RetinaNet_ResNet50_FPN_Weights.COCO_V1)`'s architecture."""
    backbone = _resnet_fpn_extractor(frozen_resnet50(), 3, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    model = RetinaNet(backbone, 91, min_size=SIZE, max_size=SIZE)
    overwrite_eps(model, 0.0)
    return model


def fcos_resnet50_fpn():
    """`fcos_resnet50_fpn(weights=FCOS_ResNet50_FPN_Weights.COCO_V1)`'s architecture (its frozen
    batch norms keep eps 1e-5)."""
    backbone = _resnet_fpn_extractor(frozen_resnet50(), 3, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    return FCOS(backbone, 91, min_size=SIZE, max_size=SIZE)


def ssdlite320_mobilenet_v3_large():
    """`ssdlite320_mobilenet_v3_large(weights=SSDLite320_MobileNet_V3_Large_Weights.COCO_V1)`'s
    architecture (weights=None builds the same: the reduced tail), its fixed size 64x64 here."""
    model = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
    model.transform.min_size, model.transform.max_size, model.transform.fixed_size = (SIZE,), SIZE, (SIZE, SIZE)
    return model


def fasterrcnn_mobilenet_v3_large_fpn():
    """`fasterrcnn_mobilenet_v3_large_fpn(weights=FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1)`'s
    architecture (its trained backbone's FrozenBatchNorm2d, eps 1e-5; `rpn_score_thresh=0.05`),
    at 64x64 and with a box score threshold of 0.012 (see above)."""
    backbone = torchvision.models.mobilenet_v3_large(weights=None, norm_layer=torchvision.ops.FrozenBatchNorm2d)
    backbone = _mobilenet_extractor(backbone, True, 3)
    anchors = AnchorGenerator(((32, 64, 128, 256, 512),) * 3, ((0.5, 1.0, 2.0),) * 3)
    return FasterRCNN(backbone, 91, rpn_anchor_generator=anchors, rpn_score_thresh=0.05, box_score_thresh=0.012,
                      min_size=SIZE, max_size=SIZE)


MODELS = {
    "retinanet_resnet50_fpn": retinanet_resnet50_fpn,
    "fcos_resnet50_fpn": fcos_resnet50_fpn,
    "ssdlite320_mobilenet_v3_large": ssdlite320_mobilenet_v3_large,
    "fasterrcnn_mobilenet_v3_large_fpn": fasterrcnn_mobilenet_v3_large_fpn,
}


def run(model, x):
    """The head's outputs on the normalized images, and the whole model's detections."""
    images, _ = model.transform(list(x))
    features = list(model.backbone(images.tensors).values())
    head = model.head(features)
    # SSD's head names its outputs as RetinaNet's.
    detections = model(list(x))
    return head, detections


def run_two_stage(model, x, proposals=None):
    """The RPN head's outputs, the proposals, the box head's outputs on `proposals` (the run's
    own if None) and the detections."""
    from torchvision.models.detection.rpn import concat_box_prediction_layers
    images, _ = model.transform(list(x))
    features = model.backbone(images.tensors)
    objectness, deltas = model.rpn.head(list(features.values()))
    objectness, deltas = concat_box_prediction_layers(objectness, deltas)
    n = len(x)
    out = {"objectness": objectness.reshape(n, -1), "pred_bbox_deltas": deltas.reshape(n, -1, 4)}
    own, _ = model.rpn(images, features)
    proposals = own if proposals is None else [p.to(objectness.dtype) for p in proposals]
    pooled = model.roi_heads.box_roi_pool(features, proposals, images.image_sizes)
    logits, regression = model.roi_heads.box_predictor(model.roi_heads.box_head(pooled))
    out["class_logits"], out["box_regression"] = logits, regression
    return out, own, model(list(x))


def two_stage(name, model, x):
    """The fixture of a two-stage detector."""
    out = {}
    with torch.no_grad():
        heads64, props64, det64 = run_two_stage(copy.deepcopy(model).double(), x.double())
        heads32, props32, det32 = run_two_stage(model, x, props64)
    for k in heads64:
        out[k] = heads64[k].float().contiguous()
        out[k + "32"] = heads32[k].contiguous()
    for i, (p64, p32) in enumerate(zip(props64, props32)):
        out[f"proposals{i}"] = p64.float().contiguous()
        out[f"proposals32{i}"] = p32.contiguous()
    err = max(((heads32[k] - heads64[k]).abs().max() / heads64[k].abs().max()).item() for k in heads64)
    print(f"{name}: heads float32 vs float64 {err:.2e}, proposals {[len(p) for p in props64]}")
    return out, det64, det32


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[1:] or list(MODELS):
        model = fill_seeded(MODELS[name]()).eval()
        torch.manual_seed(34)
        x = torch.rand(2, 3, SIZE, SIZE)
        keys = "".join(f"{k} {list(v.shape)}\n" for k, v in model.state_dict().items())
        out = {
            "input": x.contiguous(),
            "keys": torch.tensor(list(keys.encode()), dtype=torch.uint8),
            "param_count": torch.tensor([sum(p.numel() for p in model.parameters())], dtype=torch.int64),
        }
        if isinstance(model, FasterRCNN):
            heads, det64, det32 = two_stage(name, model, x)
            out.update(heads)
        else:
            with torch.no_grad():
                head64, det64 = run(copy.deepcopy(model).double(), x.double())
                head32, det32 = run(model, x)
            for k in head64:
                out[k] = head64[k].float().contiguous()
                out[k + "32"] = head32[k].contiguous()
            err = max(((head32[k] - head64[k]).abs().max() / head64[k].abs().max()).item() for k in head64)
            print(f"{name}: head float32 vs float64 {err:.2e}")
        for tag, dets in (("det", det64), ("det32", det32)):
            for i, d in enumerate(dets):
                out[f"{tag}{i}.boxes"] = d["boxes"].float().reshape(-1, 4).contiguous()
                out[f"{tag}{i}.scores"] = d["scores"].float().contiguous()
                out[f"{tag}{i}.labels"] = d["labels"].to(torch.int64).contiguous()
        save_file(out, OUT / f"{name}.safetensors")
        print(f"{name}: {out['param_count'].item()} parameters, "
              f"detections {[len(d['scores']) for d in det64]} (float32 {[len(d['scores']) for d in det32]})")


if __name__ == "__main__":
    main()
