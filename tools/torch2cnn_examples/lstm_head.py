"""A sequence model: a convolution whose columns an LSTM reads. The DSL has no recurrent layer;
the converter must refuse it once, at the first thing it cannot express, and not report the
LSTM again as a module that forward never calls."""

import torch.nn as nn


class LstmHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.lstm = nn.LSTM(4, 4)

    def forward(self, x):
        x = self.conv(x).flatten(2).permute(2, 0, 1)
        out, _ = self.lstm(x)
        return out
