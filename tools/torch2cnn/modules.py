"""Leaf modules: the DSL layer each is."""

import torch.nn as nn

from .dsl import layer, num, pair


def same_forward(m, base):
    return isinstance(m, base) and type(m).forward is base.forward


def differing(args, key, value, default, role):
    """Appends `key=value` to `args` where `value` (a number or pair) is not `default`."""
    if tuple(value) != default:
        args.append(f"{key}=" + pair(value, role))


def conv_layer(m):
    args = [num(m.in_channels, "cin"), num(m.out_channels, "cout"), "k=" + pair(m.kernel_size, "k")]
    differing(args, "s", m.stride, (1, 1), "s")
    if isinstance(m.padding, str):
        args.append(f"p={m.padding}")
    else:
        differing(args, "p", m.padding, (0, 0), "p")
    differing(args, "d", m.dilation, (1, 1), "d")
    if m.groups != 1:
        args.append("g=" + num(m.groups, "g"))
    if m.bias is None:
        args.append("bias=false")
    if m.padding_mode != "zeros":
        args.append(f"padding_mode={m.padding_mode}")
    return layer("conv", ", ".join(args))


def conv1d_layer(m):
    """`nn.Conv1d` on `[N, C, L]` (ECA's convolution across the pooled channels)."""
    if m.padding_mode != "zeros":
        raise ValueError(f"padding_mode='{m.padding_mode}' (the DSL's conv1d pads with zeros)")
    args = [num(m.in_channels, "cin"), num(m.out_channels, "cout"), "k=" + num(m.kernel_size[0], "k")]
    if m.stride[0] != 1:
        args.append("s=" + num(m.stride[0], "s"))
    if isinstance(m.padding, str):
        args.append(f"p={m.padding}")
    elif m.padding[0] != 0:
        args.append("p=" + num(m.padding[0], "p"))
    if m.dilation[0] != 1:
        args.append("d=" + num(m.dilation[0], "d"))
    if m.groups != 1:
        args.append("g=" + num(m.groups, "g"))
    if m.bias is None:
        args.append("bias=false")
    return layer("conv1d", ", ".join(args))


def conv_transpose_layer(m):
    """`nn.ConvTranspose2d`, its arguments in PyTorch's order (groups and bias before dilation)."""
    if m.padding_mode != "zeros":
        raise ValueError(f"padding_mode='{m.padding_mode}' (PyTorch itself takes only zeros here)")
    args = [num(m.in_channels, "cin"), num(m.out_channels, "cout"), "k=" + pair(m.kernel_size, "k")]
    differing(args, "s", m.stride, (1, 1), "s")
    differing(args, "p", m.padding, (0, 0), "p")
    differing(args, "output_padding", m.output_padding, (0, 0), "op")
    if m.groups != 1:
        args.append("g=" + num(m.groups, "g"))
    if m.bias is None:
        args.append("bias=false")
    differing(args, "d", m.dilation, (1, 1), "d")
    return layer("conv_transpose", ", ".join(args))


def upsample_layer(size, scale_factor, mode, align_corners, recompute=None, antialias=False):
    """`nn.Upsample` / `F.interpolate` in the modes the DSL has."""
    if mode not in ("nearest", "nearest-exact", "bilinear"):
        raise ValueError(f"mode='{mode}' (the DSL upsamples with nearest, nearest-exact and bilinear)")
    if antialias:
        raise ValueError("antialias=True has no DSL form")
    args = []
    if size is not None:
        size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        args.append("size=" + pair(tuple(int(v) for v in size), "size"))
    if scale_factor is not None:
        sf = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
        if sf[0] != sf[1]:
            if not all(float(v).is_integer() for v in sf):
                raise ValueError(f"scale_factor={sf}: the DSL takes one number or a pair of integers")
            args.append(f"scale_factor=({int(sf[0])}, {int(sf[1])})")
        else:
            v = sf[0]
            args.append("scale_factor=" + (num(int(v), "scale") if float(v).is_integer() else num(float(v), "scale")))
    args.append("mode=" + ('"nearest-exact"' if mode == "nearest-exact" else mode))
    if align_corners:
        args.append("align_corners=true")
    if recompute:
        args.append("recompute_scale_factor=true")
    return layer("upsample", ", ".join(args))


PADS = {"constant": "zeropad", "zeros": "zeropad", "reflect": "reflectionpad", "replicate": "replicationpad",
        "circular": "circularpad"}


def pad_layer(padding, mode, value=0.0):
    """`F.pad` / the padding modules: `(left, right, top, bottom)` (a pair pads only the width)."""
    padding = tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * 4
    if len(padding) == 2:
        padding = padding + (0, 0)
    if len(padding) != 4:
        raise ValueError(f"padding {padding}: the DSL pads the height and width (4 numbers)")
    if min(padding) < 0:
        raise ValueError(f"padding {padding}: negative padding (cropping) has no DSL form")
    if mode not in PADS or (mode == "constant" and value not in (0, 0.0, None)):
        raise ValueError(f"mode='{mode}' value={value}: the DSL pads with zeros, reflect, replicate or circular")
    if len(set(padding)) == 1:
        return layer(PADS[mode], num(padding[0], "p"))
    return layer(PADS[mode], ", ".join(num(v, "p") for v in padding))


def running_norm_args(m):
    """A batch or instance norm's features, and its `eps` and `momentum` where they differ from
    PyTorch's defaults (1e-5, 0.1; `momentum=None` as it is)."""
    args = [num(m.num_features, "c")]
    if m.eps != 1e-5:
        args.append("eps=" + num(m.eps, "eps"))
    if m.momentum is None:
        args.append("momentum=None")
    elif m.momentum != 0.1:
        args.append("momentum=" + num(m.momentum, "momentum"))
    return args


def batchnorm_layer(m):
    args = running_norm_args(m)
    if not m.affine:
        args.append("affine=false")
    if not m.track_running_stats:
        args.append("track_running_stats=false")
    return layer("batchnorm", ", ".join(args))


def layernorm_layer(m):
    if len(m.normalized_shape) != 1:
        raise ValueError(f"normalized_shape {list(m.normalized_shape)}: the DSL normalizes the last dimension only")
    if type(m).__name__ == "LayerNorm2d":
        args = [num(m.normalized_shape[0], "c")]
        if m.eps != 1e-6:
            args.append("eps=" + num(m.eps, "eps"))
        return layer("layernorm2d", ", ".join(args))
    args = [num(m.normalized_shape[0], "c")]
    if m.eps != 1e-5:
        args.append("eps=" + num(m.eps, "eps"))
    if not m.elementwise_affine:
        args.append("elementwise_affine=false")
    elif m.bias is None:
        args.append("bias=false")
    return layer("layernorm", ", ".join(args))


def groupnorm_layer(m):
    args = [num(m.num_groups, "groups"), num(m.num_channels, "c")]
    if m.eps != 1e-5:
        args.append("eps=" + num(m.eps, "eps"))
    if not m.affine:
        args.append("affine=false")
    return layer("groupnorm", ", ".join(args))


def instancenorm_layer(m):
    args = running_norm_args(m)
    if m.affine:
        args.append("affine=true")
    if m.track_running_stats:
        args.append("track_running_stats=true")
    return layer("instancenorm", ", ".join(args))


def maxpool_layer(m):
    if m.return_indices:
        raise ValueError("return_indices=True has no DSL form")
    return pool_layer("maxpool", m.kernel_size, m.stride, m.padding, m.ceil_mode, dilation=m.dilation)


def pool_layer(kind, k, s, p, ceil_mode, dilation=1, count_include_pad=True, divisor_override=None):
    s = k if s is None or s == [] or s == () else s
    args = [pair(k, "k")]
    if s != k:
        args.append(pair(s, "s"))
    if p not in (0, (0, 0)):
        args.append("p=" + pair(p, "p"))
    if dilation not in (1, (1, 1)):
        args.append("d=" + pair(dilation, "d"))
    if ceil_mode:
        args.append("ceil_mode=true")
    if not count_include_pad:
        args.append("count_include_pad=false")
    if divisor_override:
        args.append("divisor_override=" + num(divisor_override, "divisor"))
    return layer(kind, ", ".join(args))


def adaptive_layer(kind, size):
    if isinstance(size, (tuple, list)):
        if any(v is None for v in size):
            raise ValueError(f"output size {tuple(size)} with None has no DSL form")
    return layer(kind, pair(size, "size"))


def linear_layer(m):
    args = [num(m.in_features, "fin"), num(m.out_features, "fout")]
    if m.bias is None:
        args.append("bias=false")
    return layer("linear", ", ".join(args))


def gelu_layer(approximate):
    return layer("gelu", "approximate=tanh" if approximate == "tanh" else "")


def flatten_layer(m):
    if (m.start_dim, m.end_dim) != (1, -1):
        raise ValueError(f"Flatten({m.start_dim}, {m.end_dim}): the DSL flattens from dim 1 to the end")
    return layer("flatten")


def permute_layer(m):
    dims = list(m.dims)
    if dims not in ([0, 2, 3, 1], [0, 3, 1, 2]):
        raise ValueError(f"permute {dims}: the DSL permutes to channels-last and back only")
    return layer("permute", ", ".join(str(d) for d in dims))


def stochastic_depth_layer(m):
    return layer("stochastic_depth", f"{num(float(m.p), 'p')}, mode={m.mode}")


def leaf_layer(m):
    """The DSL layer of a module, or None when the module is not a layer the DSL has."""
    t = type(m)
    name = t.__name__
    if same_forward(m, nn.Conv2d):
        return conv_layer(m)
    if same_forward(m, nn.Conv1d):
        return conv1d_layer(m)
    if same_forward(m, nn.ConvTranspose2d):
        return conv_transpose_layer(m)
    if same_forward(m, nn.Upsample):
        return upsample_layer(m.size, m.scale_factor, m.mode, m.align_corners, m.recompute_scale_factor)
    if same_forward(m, nn.PixelShuffle):
        return layer("pixel_shuffle", num(m.upscale_factor, "r"))
    if same_forward(m, nn.PixelUnshuffle):
        return layer("pixel_unshuffle", num(m.downscale_factor, "r"))
    for base, mode in ((nn.ZeroPad2d, "constant"), (nn.ReflectionPad2d, "reflect"), (nn.ReplicationPad2d, "replicate"),
                       (nn.CircularPad2d, "circular"), (nn.ConstantPad2d, "constant")):
        if same_forward(m, base):
            return pad_layer(m.padding, mode, getattr(m, "value", 0.0))
    if same_forward(m, nn.Linear):
        return linear_layer(m)
    if same_forward(m, nn.BatchNorm2d) or same_forward(m, nn.BatchNorm1d):
        return batchnorm_layer(m)
    if name == "FrozenBatchNorm2d" and type(m).__module__.startswith("torchvision."):
        args = [num(m.weight.shape[0], "num_features")]
        if m.eps != 1e-5:
            args.append("eps=" + num(m.eps, "eps"))
        return layer("frozen_batchnorm", ", ".join(args))
    if same_forward(m, nn.LayerNorm) or (isinstance(m, nn.LayerNorm) and name == "LayerNorm2d"):
        return layernorm_layer(m)
    if same_forward(m, nn.GroupNorm):
        return groupnorm_layer(m)
    if same_forward(m, nn.InstanceNorm2d):
        return instancenorm_layer(m)
    if same_forward(m, nn.MaxPool2d):
        return maxpool_layer(m)
    if same_forward(m, nn.AvgPool2d):
        return pool_layer(
            "avgpool", m.kernel_size, m.stride, m.padding, m.ceil_mode,
            count_include_pad=m.count_include_pad, divisor_override=m.divisor_override,
        )
    if same_forward(m, nn.AdaptiveAvgPool2d):
        return adaptive_layer("adaptive_avgpool", m.output_size)
    if same_forward(m, nn.AdaptiveMaxPool2d):
        if m.return_indices:
            raise ValueError("return_indices=True has no DSL form")
        return adaptive_layer("adaptive_maxpool", m.output_size)
    if same_forward(m, nn.Dropout):
        return layer("dropout", num(float(m.p), "p"))
    if same_forward(m, nn.Dropout2d):
        return layer("dropout2d", num(float(m.p), "p"))
    if same_forward(m, nn.ReLU6):
        return layer("relu6")
    simple = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.SiLU: "silu",
              nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid", nn.Identity: "identity"}
    for base, kind in simple.items():
        if same_forward(m, base):
            return layer(kind)
    if same_forward(m, nn.GELU):
        return gelu_layer(m.approximate)
    if same_forward(m, nn.LeakyReLU):
        return layer("leaky_relu", num(float(m.negative_slope), "slope"))
    if same_forward(m, nn.ELU):
        return layer("elu", num(float(m.alpha), "alpha"))
    if same_forward(m, nn.Softmax) or same_forward(m, nn.LogSoftmax):
        kind = "softmax" if isinstance(m, nn.Softmax) else "log_softmax"
        return layer(kind, f"dim={m.dim}" if m.dim is not None else "")
    if same_forward(m, nn.Flatten):
        return flatten_layer(m)
    if same_forward(m, nn.ChannelShuffle):
        return layer("channel_shuffle", num(m.groups, "g"))
    if name == "Permute" and t.__module__.startswith("torchvision."):
        return permute_layer(m)
    if name == "StochasticDepth" and t.__module__.startswith("torchvision."):
        return stochastic_depth_layer(m)
    return None


# The PyTorch modules `leaf_layer` maps (with their own forward): a subclass with another
# forward is traced into, and converts by what its forward calls.
LAYER_BASES = (nn.Conv2d, nn.Conv1d, nn.ConvTranspose2d, nn.Linear, nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm,
               nn.modules.instancenorm._InstanceNorm, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
               nn.AdaptiveMaxPool2d, nn.Upsample, nn.Dropout, nn.Dropout2d)


def is_layer_subclass(m):
    return isinstance(m, LAYER_BASES) and leaf_layer(m) is None


def has_state(m):
    return any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False))


def is_sequential(m):
    """An `nn.Sequential` (or a subclass that keeps its forward): its children in a chain."""
    return isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward
