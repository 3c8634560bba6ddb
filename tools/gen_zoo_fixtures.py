#!/usr/bin/env python3
"""Generate the fixtures of tests/torchvision_zoo.rs: torchvision's 21 classification families
(weights=None, aux_logits=False for GoogLeNet and Inception v3) and its 4 segmentation models
(aux_loss=False, num_classes=4 to keep the maps small; their "out"), in eval mode, with every
parameter and buffer a function of its name (`seeded` in gen_layer_fixtures.py, mirrored by
tests/common/mod.rs), so no weights are committed. For each family, tests/fixtures/zoo/<name>.safetensors:

  "input"       [2, 3, 64, 64] (Inception v3: 96x96), from torch.manual_seed(21)
  "output"      the eval-mode logits computed in float64 (the reference)
  "output32"    PyTorch's own float32 logits (how far float32 itself lands)
  "keys"        the state_dict as text, one "name shape" line per tensor in PyTorch's order
  "param_count" sum of numel() over parameters (int64)

Usage: pip install torch torchvision safetensors numpy && python3 tools/gen_zoo_fixtures.py
"""
import copy
import sys
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_layer_fixtures import fill_seeded  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "zoo"

SEGMENTATION = "fcn_resnet50 deeplabv3_resnet50 deeplabv3_mobilenet_v3_large lraspp_mobilenet_v3_large".split()

FAMILIES = (
    "alexnet vgg11_bn resnet18 resnet34 resnet50 resnext50_32x4d wide_resnet50_2 mobilenet_v2 "
    "mobilenet_v3_small efficientnet_b0 regnet_x_400mf regnet_y_400mf mnasnet0_5 shufflenet_v2_x0_5 "
    "squeezenet1_1 densenet121 googlenet inception_v3 convnext_tiny resnet152 densenet169"
).split() + SEGMENTATION


def build(name):
    if name in SEGMENTATION:
        kwargs = {} if name.startswith("lraspp") else {"aux_loss": False}
        model = getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None, num_classes=4, **kwargs)
        return Out(model)
    kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    if name in ("googlenet", "inception_v3"):
        kwargs["transform_input"] = False
    return getattr(torchvision.models, name)(weights=None, **kwargs)


class Out(torch.nn.Module):
    """A segmentation model's "out" map, as a plain tensor; the state_dict is the model's."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]

    def state_dict(self, *args, **kwargs):
        return self.model.state_dict(*args, **kwargs)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    names = sys.argv[1:] or FAMILIES
    for name in names:
        model = fill_seeded(build(name)).eval()
        size = 96 if name == "inception_v3" else 64
        torch.manual_seed(21)
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            y64 = copy.deepcopy(model).double()(x.double()).float()
            y32 = model(x)
        keys = "".join(f"{k} {list(v.shape)}\n" for k, v in model.state_dict().items())
        count = sum(p.numel() for p in model.parameters())
        save_file(
            {
                "input": x,
                "output": y64.contiguous(),
                "output32": y32.contiguous(),
                "keys": torch.tensor(list(keys.encode()), dtype=torch.uint8),
                "param_count": torch.tensor([count], dtype=torch.int64),
            },
            OUT / f"{name}.safetensors",
        )
        err = ((y32 - y64).abs().max() / y64.abs().max()).item()
        print(f"{name}: {count} parameters, float32 vs float64 {err:.2e}")


if __name__ == "__main__":
    main()
