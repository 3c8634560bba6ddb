"""A backbone with a feature pyramid over two of its stages, returning the levels as an
`OrderedDict`, as torchvision's `BackboneWithFPN` does: `FeaturePyramidNetwork` written out for
two levels (lateral 1x1 convolutions, the top-down path's nearest upsampling to the finer map's
size, 3x3 output convolutions) with `LastLevelMaxPool`. Each returned value becomes an `output`.
"""

from collections import OrderedDict

import torch.nn as nn
import torch.nn.functional as F


def stage(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyFpn(nn.Module):
    def __init__(self, width=12):
        super().__init__()
        self.stem = stage(3, 8)
        self.stage2 = stage(8, 16)
        self.stage3 = stage(16, 32)
        self.inner_blocks = nn.ModuleList([nn.Conv2d(16, width, 1), nn.Conv2d(32, width, 1)])
        self.layer_blocks = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1) for _ in range(2)])

    def forward(self, x):
        c3 = self.stage2(self.stem(x))
        c4 = self.stage3(c3)
        inner = self.inner_blocks[1](c4)
        p4 = self.layer_blocks[1](inner)
        inner = self.inner_blocks[0](c3) + F.interpolate(inner, size=c3.shape[-2:], mode="nearest")
        p3 = self.layer_blocks[0](inner)
        return OrderedDict([("p3", p3), ("p4", p4), ("pool", F.max_pool2d(p4, 1, 2, 0))])
