"""Module names that are not Rust: quotes and braces that would close the DSL's string and the
macro (a code injection if pasted), `{...}` that the DSL would interpolate, a character no Rust
identifier may hold, a keyword, `_` (the DSL's "no key"), a tab and a bidirectional
override. The converter must write each as a quoted name that the DSL reads back verbatim, so
that the written network's keys are these and the exported weights load as they are."""

import torch.nn as nn


class Ünit(nn.Module):
    """A class whose name is not ASCII, used twice: a block whose name must still be Rust."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x))


def HostileNames():
    net = nn.Sequential()
    net.add_module('x": relu } } pub fn injected() -> u32 { 42 } cnn! { pub struct Z { input(4, 8, 8) "y',
                   nn.Conv2d(4, 4, 1))
    net.add_module("layer{1+1}", nn.BatchNorm2d(4))
    net.add_module("a}b", Ünit(4))
    net.add_module("x²", Ünit(4))
    net.add_module("_", nn.Conv2d(4, 4, 3, padding=1, bias=False))
    net.add_module("match", nn.ReLU())
    net.add_module("tab\tline\u202e\\", nn.Conv2d(4, 2, 1))
    return net
