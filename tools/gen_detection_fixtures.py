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

Usage: pip install torch torchvision safetensors numpy && python3 tools/gen_detection_fixtures.py
"""
import copy
import sys
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
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


MODELS = {
    "retinanet_resnet50_fpn": retinanet_resnet50_fpn,
    "fcos_resnet50_fpn": fcos_resnet50_fpn,
    "ssdlite320_mobilenet_v3_large": ssdlite320_mobilenet_v3_large,
}


def run(model, x):
    """The head's outputs on the normalized images, and the whole model's detections."""
    images, _ = model.transform(list(x))
    features = list(model.backbone(images.tensors).values())
    head = model.head(features)
    # SSD's head names its outputs as RetinaNet's.
    detections = model(list(x))
    return head, detections


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[1:] or list(MODELS):
        model = fill_seeded(MODELS[name]()).eval()
        torch.manual_seed(34)
        x = torch.rand(2, 3, SIZE, SIZE)
        with torch.no_grad():
            head64, det64 = run(copy.deepcopy(model).double(), x.double())
            head32, det32 = run(model, x)
        keys = "".join(f"{k} {list(v.shape)}\n" for k, v in model.state_dict().items())
        out = {
            "input": x.contiguous(),
            "keys": torch.tensor(list(keys.encode()), dtype=torch.uint8),
            "param_count": torch.tensor([sum(p.numel() for p in model.parameters())], dtype=torch.int64),
        }
        for k in head64:
            out[k] = head64[k].float().contiguous()
            out[k + "32"] = head32[k].contiguous()
        for tag, dets in (("det", det64), ("det32", det32)):
            for i, d in enumerate(dets):
                out[f"{tag}{i}.boxes"] = d["boxes"].float().reshape(-1, 4).contiguous()
                out[f"{tag}{i}.scores"] = d["scores"].float().contiguous()
                out[f"{tag}{i}.labels"] = d["labels"].to(torch.int64).contiguous()
        save_file(out, OUT / f"{name}.safetensors")
        err = max(((head32[k] - head64[k]).abs().max() / head64[k].abs().max()).item() for k in head64)
        print(f"{name}: {out['param_count'].item()} parameters, head float32 vs float64 {err:.2e}, "
              f"detections {[len(d['scores']) for d in det64]} (float32 {[len(d['scores']) for d in det32]})")


if __name__ == "__main__":
    main()
