"""Text a tool writes into Rust source: string literals, DSL names and comments.

Every piece of outside text (a module's attribute name, a command-line argument) reaches the
written source through one of these functions, so that it can only ever be the text of one
string literal or of one comment line, never a token of its own. Nothing here needs PyTorch.
"""

import re
import unicodedata

# Rust's strict and reserved keywords (2021 edition), which cannot be plain identifiers.
KEYWORDS = frozenset(
    "as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod "
    "move mut pub ref return self Self static struct super trait true type unsafe use where while abstract become "
    "box do final macro override priv try typeof unsized virtual yield gen".split()
)

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Unrepresentable(ValueError):
    """Text that no Rust string literal can hold (a lone surrogate) or that the DSL refuses as a
    name (an empty segment, a `.` inside one)."""


def _escaped(text, braces, refuse_surrogates=True):
    out = []
    for c in text:
        if c in '\\"':
            out.append("\\" + c)
        elif braces and c in "{}":
            # The DSL reads `{expr}` in a quoted name as an interpolation and `{{` as a brace.
            out.append(c * 2)
        elif unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp"):
            # Control, format (bidirectional overrides), private and unassigned characters and
            # line separators: as escapes, so that no line break or direction change reaches the
            # source as itself.
            if unicodedata.category(c) == "Cs" and refuse_surrogates:
                raise Unrepresentable(f"{text!r} holds {c!r}, which is not Unicode text")
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    return "".join(out)


def string(text):
    """`text` as a Rust string literal: `"..."`, with `"`, `\\` and control characters escaped."""
    return '"' + _escaped(text, braces=False) + '"'


def comment(text):
    """`text` for the inside of a `//` or `///` line: quotes and braces as they are, but every
    control or format character (a line break above all) written as its escape."""
    return _escaped(text, braces=False, refuse_surrogates=False).replace('\\"', '"').replace("\\\\", "\\")


def is_identifier(word):
    """Whether `word` can be written as a plain Rust identifier (ASCII, not a keyword, not `_`)."""
    return bool(IDENT.fullmatch(word)) and word not in KEYWORDS and word != "_"


def name_segment(seg, first):
    """One segment of a module path as a DSL name: a plain word or (after the first segment) a
    decimal number as it is, anything else a quoted string that the DSL reads back verbatim."""
    if seg == "" or "." in seg:
        raise Unrepresentable(f"{seg!r} cannot be a name segment: the DSL joins segments with `.`")
    if is_identifier(seg) or (not first and re.fullmatch(r"0|[1-9][0-9]*", seg)):
        return seg
    return '"' + _escaped(seg, braces=True) + '"'


def name(path):
    """A module path (`trunk.block1-0`) as a DSL name (`trunk."block1-0"`)."""
    return ".".join(name_segment(seg, i == 0) for i, seg in enumerate(path.split(".")))
