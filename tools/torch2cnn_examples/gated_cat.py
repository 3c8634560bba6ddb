"""A net with an Inception-style module joined by `torch.cat`, and channel attention written as
`x * torch.sigmoid(...)` in `forward`."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class Mixed(nn.Module):
    def __init__(self, cin, c1, c3, cp):
        super().__init__()
        self.b1 = nn.Conv2d(cin, c1, 1)
        self.b3 = nn.Sequential(nn.Conv2d(cin, c3 // 2, 1), nn.ReLU(inplace=True), nn.Conv2d(c3 // 2, c3, 3, padding=1))
        self.bp = nn.Conv2d(cin, cp, 1)

    def forward(self, x):
        pooled = F.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([F.relu(self.b1(x)), F.relu(self.b3(x)), F.relu(self.bp(pooled))], 1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.squeeze = nn.Conv2d(c, c // 4, 1)
        self.excite = nn.Conv2d(c // 4, c, 1)

    def forward(self, x):
        w = x.mean([2, 3], keepdim=True)
        return x * torch.sigmoid(self.excite(F.relu(self.squeeze(w))))


class GatedNet(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.mixed1 = Mixed(16, 8, 16, 8)
        self.att1 = Attention(32)
        self.mixed2 = Mixed(32, 16, 24, 8)
        self.att2 = Attention(48)
        self.head = nn.Linear(48, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.att1(self.mixed1(x))
        x = F.max_pool2d(x, 2)
        x = self.att2(self.mixed2(x))
        x = x.mean([2, 3])
        return self.head(x)
