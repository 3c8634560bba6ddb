"""A small segmentation net as PyTorch users write one: a U-Net whose decoder upsamples with
`nn.ConvTranspose2d` and with `F.interpolate`, pads the upsampled map to the skip's size with
`F.pad` before `torch.cat`, a reflection-padded stem, a sub-pixel (`nn.PixelShuffle`) head, and
an LR-ASPP style gate written as the product of two branches."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class DoubleConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.conv(x)


class Up(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.conv = DoubleConv(cin, cout)

    def forward(self, x, skip):
        x = self.up(x)
        x = F.pad(x, [0, 1, 0, 1], mode="replicate")
        return self.conv(torch.cat([skip, x], dim=1))


class SmallUNet(nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect")
        self.enc1 = DoubleConv(8, 8)
        self.enc2 = DoubleConv(8, 16)
        self.up = Up(16, 8)
        self.cbr = nn.Sequential(nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 8, 1), nn.Sigmoid())
        self.head = nn.Sequential(nn.Conv2d(8, classes * 4, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, x):
        s = self.enc1(F.relu(self.stem(x)))
        y = self.enc2(F.max_pool2d(s, 2))
        y = self.up(y, s)
        y = self.cbr(y) * self.scale(y)
        y = F.interpolate(y, scale_factor=0.5, mode="bilinear", align_corners=False)
        return self.head(y)
