"""An embedding net that the DSL cannot express: its features are L2-normalized
(`F.normalize`), and its stem upsamples bicubically, which the converter must refuse, each with
its source line, writing no file."""

import torch.nn as nn
import torch.nn.functional as F


class EmbeddingNet(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.stem = nn.Upsample(scale_factor=2, mode="bicubic")
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU())
        self.proj = nn.Linear(16, dim)

    def forward(self, x):
        x = self.body(F.relu(self.stem(x)))
        x = x.mean([2, 3])
        x = self.proj(x)
        return F.normalize(x, dim=1)
