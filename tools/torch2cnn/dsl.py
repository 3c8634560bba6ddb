"""The items of the DSL before they are written out, and the numbers in them."""

import re
from dataclasses import dataclass
from typing import List, Optional

import torch.nn as nn


# Numbers are written through `num`, which marks them, so that the uses of one module class can
# be compared with their numbers left out, and the numbers that differ made parameters. A mark
# is \x01ROLE\x03TEXT\x02: ROLE names the parameter it would become.
MARK = re.compile("\x01([^\x03]*)\x03([^\x02]*)\x02")


def num(value, role="n"):
    if isinstance(value, bool):
        raise TypeError("a flag is a word")
    if isinstance(value, float):
        text = "%.9g" % value
        text = re.sub(r"e([+-]?)0*(\d)", r"e\1\2", text).replace("e+", "e")
        if not re.search(r"[.e]", text):
            text += ".0"
    else:
        text = str(int(value))
    return f"\x01{role}\x03{text}\x02"


def pair(value, role):
    """An integer or `(h, w)`."""
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and value[0] != value[1]:
            return f"({num(value[0], role)}, {num(value[1], role)})"
        value = value[0]
    return num(value, role)


def plain(text):
    """The text with its numbers unmarked."""
    return MARK.sub(lambda m: m.group(2), text)


@dataclass
class Item:
    """One item: a layer (`kind` and `args`), a block (`body`), or the items of a child module
    (`module` set: written as a `seq`, the block it is, or a use of a `block`)."""

    kind: str
    args: str = ""
    name: Optional[str] = None  # None: keyed by position; "_": no key of its own
    body: Optional[List["Item"]] = None
    module: Optional[nn.Module] = None
    # For a `residual`: the item after it that is its `shortcut`.
    shortcut: Optional["Item"] = None


def named(item, name):
    item.name = name
    return item


def layer(kind, args=""):
    return Item(kind, args)
