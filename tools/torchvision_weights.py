#!/usr/bin/env python3
"""Move torchvision weights in and out of `cnn` networks.

The DSL's names are torchvision's, so a `state_dict` moves as it is (batch norm's
`num_batches_tracked` included, as int64):

  python3 tools/torchvision_weights.py export resnet18 resnet18.safetensors [--pretrained]
      writes torchvision's resnet18 state_dict (ImageNet weights with --pretrained, which
      torchvision downloads) for `cnn::nets::ResNet18::load_safetensors`
  python3 tools/torchvision_weights.py import resnet18 saved.safetensors
      loads a file that a `cnn` network saved (`save_safetensors`) into torchvision's model with
      load_state_dict(strict=True) and prints its eval-mode logits for a fixed test image, the
      image `cnn`'s examples use, so the two can be compared

Models: the 21 families of `cnn::models` (alexnet, vgg11_bn, resnet18, resnet34, resnet50,
resnet152, resnext50_32x4d, wide_resnet50_2, mobilenet_v2, mobilenet_v3_small, efficientnet_b0,
regnet_x_400mf, regnet_y_400mf, mnasnet0_5, shufflenet_v2_x0_5, squeezenet1_1, densenet121,
densenet169, googlenet, inception_v3, convnext_tiny), or any other torchvision.models constructor name,
and the 4 segmentation models (fcn_resnet50, deeplabv3_resnet50, deeplabv3_mobilenet_v3_large,
lraspp_mobilenet_v3_large), built with aux_loss=False as `cnn` builds them: their pretrained
weights (COCO with Pascal VOC's 21 classes) come with an auxiliary classifier, which export
leaves out.
GoogLeNet and Inception v3 are built with aux_logits=False, transform_input=False, as `cnn`
builds them (torchvision's pretrained weights for them expect transform_input=True: normalize
inputs as torchvision's transform_input does before calling the `cnn` network).
Usage: pip install torch torchvision safetensors
"""
import argparse
import os
import sys
from collections import OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tool_io import Outputs, ToolError, run  # noqa: E402

# The families `cnn::models` builds; torchvision's other constructors work too.
FAMILIES = [
    "alexnet", "vgg11_bn", "resnet18", "resnet34", "resnet50", "resnet152", "resnext50_32x4d",
    "wide_resnet50_2", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "regnet_x_400mf", "regnet_y_400mf",
    "mnasnet0_5", "shufflenet_v2_x0_5", "squeezenet1_1", "densenet121", "densenet169", "googlenet",
    "inception_v3",
    "convnext_tiny",
]
SEGMENTATION = ["fcn_resnet50", "deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]


def known_model(ap, name):
    """`name` if it is one of FAMILIES or a torchvision classification model; else one line
    that lists the families, and exit status 2 (argparse's for bad arguments)."""
    if name in FAMILIES or name in SEGMENTATION:
        return name
    try:
        import torchvision

        if name in torchvision.models.list_models(module=torchvision.models):
            return name
    except ImportError:
        pass
    print(f"{ap.prog}: unknown model {name!r}; the families cnn::models builds: {', '.join(FAMILIES)}, "
          f"and the segmentation models {', '.join(SEGMENTATION)} "
          "(or another torchvision.models classification model)", file=sys.stderr)
    sys.exit(2)


def test_image():
    """The examples' test image: a horizontal ramp, x = ((w % 224) / 224 - 0.5) * 2."""
    import torch

    w = torch.arange(224, dtype=torch.float32)
    row = (w / 224.0 - 0.5) * 2.0
    return row.expand(1, 3, 224, 224).contiguous()


def build(name, pretrained):
    import torchvision

    if name in SEGMENTATION:
        make = getattr(torchvision.models.segmentation, name)
        if pretrained:
            return make(weights="DEFAULT")  # with its auxiliary classifier, dropped on export
        aux = {} if name.startswith("lraspp") else {"aux_loss": False}
        return make(weights=None, weights_backbone=None, **aux)

    kwargs = {"aux_logits": False, "transform_input": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    return getattr(torchvision.models, name)(weights="DEFAULT" if pretrained else None, **kwargs)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("direction", choices=["export", "import"])
    ap.add_argument("model")
    ap.add_argument("file")
    ap.add_argument("--pretrained", action="store_true", help="torchvision's ImageNet weights (downloaded)")
    args = ap.parse_args(argv)
    known_model(ap, args.model)
    # The file is checked before torch is imported and the model built.
    if args.direction == "import" and not os.path.isfile(args.file):
        raise ToolError(f"{args.file}: " + ("is a directory" if os.path.isdir(args.file) else "no such file"))
    with Outputs() as out:
        if args.direction == "export":
            out.add("the output", args.file)
        import torch  # noqa: F401  (after the arguments: a bad name needs no torch to be refused)
        from safetensors.torch import load_file, save_file

        if args.direction == "export":
            model = build(args.model, args.pretrained)
            state = {k: v.contiguous() for k, v in model.state_dict().items() if not k.startswith("aux_classifier.")}
            out.write("the output", lambda tmp: save_file(state, tmp))
            out.commit()
            print(f"{args.file}: {len(state)} tensors of torchvision's {args.model}")
            return 0
    model = build(args.model, False)
    try:
        state = OrderedDict(load_file(args.file))
    except Exception as e:  # noqa: BLE001  (safetensors' errors for a file that is not one)
        raise ToolError(f"{args.file}: not a safetensors file ({e})") from None
    # Some modules (MNASNet) read their version from the state_dict's metadata, which a
    # safetensors file does not carry: it is the model's own.
    state._metadata = model.state_dict()._metadata
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ToolError(f"{args.file} does not fit torchvision's {args.model}: {' '.join(str(e).split())}") from None
    with torch.no_grad():
        logits = model.eval()(test_image())
    if isinstance(logits, dict):  # a segmentation model: the "out" map's centre pixel
        logits = logits["out"][0, :, 112, 112]
    else:
        logits = logits[0]
    top = int(logits.argmax())
    print(f"top class {top} ({logits[top].item():.3f}); logits[:5] = {logits[:5].tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(run("torchvision_weights", main))
