"""Group and instance normalization as detection heads and style-transfer networks use them:
an FCOS-style tower (convolution, `GroupNorm(4, C)`, ReLU) and a residual block of the fast
neural style network (reflection-padded convolutions, `InstanceNorm2d(C, affine=True)`), plus an
instance norm that tracks running statistics."""

import torch.nn as nn


class ConvIn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(c, c, 3)
        self.norm = nn.InstanceNorm2d(c, affine=True)

    def forward(self, x):
        return self.norm(self.conv(self.pad(x)))


class StyleResidual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = ConvIn(c)
        self.relu = nn.ReLU()
        self.b = ConvIn(c)

    def forward(self, x):
        return x + self.b(self.relu(self.a(x)))


class NormStyles(nn.Module):
    def __init__(self, num_classes=6):
        super().__init__()
        self.tower = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1), nn.GroupNorm(8, 16, eps=1e-6), nn.ReLU(),
        )
        self.res = StyleResidual(16)
        self.tracked = nn.InstanceNorm2d(16, momentum=0.2, track_running_stats=True)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))

    def forward(self, x):
        return self.head(self.tracked(self.res(self.tower(x))))
