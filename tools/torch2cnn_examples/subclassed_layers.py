"""Layers subclassed with a forward of their own, as timm writes its layer library: a batch norm
with its activation fused in (timm's `BatchNormAct2d`: `F.batch_norm` on the module's own
tensors, then its `drop` and `act` children), a linear layer whose forward calls `F.linear` (timm's
`Linear`), a convolution that calls `F.conv2d` with its own weight, one that standardizes its
weight first (timm's `ScaledStdConv2d`: `conv(..., ws=true)`), an in-place product with a learned
scalar (NFNet's `out.mul_(self.skipinit_gain)`), MetaFormer's token mixer `pool(x) - x` with a
layer scale that is a module with a tensor of its own (`x * self.gamma.view(1, -1, 1, 1)`), and a
classifier head whose forward branches on an
argument with a default (timm's `ClassifierHead(x, pre_logits=False)`). The converter traces into
each and keys what it calls by the module, as PyTorch does."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class BatchNormAct(nn.BatchNorm2d):
    def __init__(self, c, act=True, **kwargs):
        super().__init__(c, **kwargs)
        self.drop = nn.Identity()
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x):
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                         0.0 if self.momentum is None else self.momentum, self.eps)
        return self.act(self.drop(x))


class PlainLinear(nn.Linear):
    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class FunctionalConv(nn.Conv2d):
    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class StandardizedConv(nn.Conv2d):
    def __init__(self, *args, gamma=1.0, eps=1e-6, **kwargs):
        super().__init__(*args, **kwargs)
        self.gain = nn.Parameter(torch.empty(self.out_channels, 1, 1, 1).uniform_(0.5, 1.5))
        self.scale = gamma * self.weight[0].numel() ** -0.5
        self.eps = eps

    def forward(self, x):
        weight = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None,
                              weight=(self.gain * self.scale).view(-1), training=True, momentum=0.0, eps=self.eps)
        return F.conv2d(x, weight.reshape_as(self.weight), self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class Pooling(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)

    def forward(self, x):
        return self.pool(x) - x


class LayerScale(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gamma = nn.Parameter(torch.empty(c).uniform_(0.5, 1.5))

    def forward(self, x):
        return x * self.gamma.view(1, -1, 1, 1)


class Head(nn.Module):
    def __init__(self, c, classes):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.2)
        self.fc = PlainLinear(c, classes)

    def forward(self, x, pre_logits: bool = False):
        x = torch.flatten(self.pool(x), 1)
        if pre_logits:
            return x
        return self.fc(self.drop(x))


class SubclassedLayers(nn.Module):
    def __init__(self, classes=5):
        super().__init__()
        self.conv1 = FunctionalConv(3, 12, 3, stride=2, padding=1, bias=False)
        self.bn1 = BatchNormAct(12, eps=1e-3, momentum=0.01)
        self.conv2 = nn.Conv2d(12, 12, 3, padding=1, groups=3, bias=False)
        self.bn2 = BatchNormAct(12, act=False)
        self.conv3 = StandardizedConv(12, 12, 3, padding=1, gamma=1.7, eps=1e-5)
        self.skip_gain = nn.Parameter(torch.tensor(0.5))
        self.mixer = Pooling()
        self.layer_scale = LayerScale(12)
        self.head = Head(12, classes)

    def forward(self, x):
        x = self.bn1(self.conv1(x))
        x = x + self.bn2(self.conv2(x))
        out = self.conv3(x)
        out.mul_(self.skip_gain)
        x = x + out
        x = x + self.layer_scale(self.mixer(x))
        return self.head(x)
