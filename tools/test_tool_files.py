#!/usr/bin/env python3
"""Tests of what the tools write and how they fail, that need no PyTorch (CI runs them):
`python3 tools/test_tool_files.py`.

rust_quote: outside text can only ever be the text of one string literal or one comment line.
tool_io: outputs are checked before the work, written all or none, through symbolic links.
"""

import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rust_quote  # noqa: E402
from tool_io import Outputs, ToolError  # noqa: E402

INJECTION = 'x": relu } } pub fn injected() -> u32 { 42 } cnn! { pub struct Z { input(4, 8, 8) "y'


def unquote(literal):
    """What Rust (then the DSL, for braces) reads from a string literal that `rust_quote` wrote:
    an independent reader of the escapes it may use."""
    assert literal[0] == literal[-1] == '"', literal
    out, i, body = [], 0, literal[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1]
            if nxt in '\\"':
                out.append(nxt)
                i += 2
            elif nxt == "u":
                end = body.index("}", i)
                out.append(chr(int(body[i + 3:end], 16)))
                i = end + 1
            else:
                raise AssertionError(f"unknown escape in {literal}")
        elif c == '"':
            raise AssertionError(f"an unescaped quote ends {literal} early")
        elif c in "{}":
            assert body[i + 1] == c, f"a lone brace in {literal} would be read as an interpolation"
            out.append(c)
            i += 2
        else:
            assert ord(c) >= 0x20 and c not in "\u202e\u2066", f"a raw control character in {literal!r}"
            out.append(c)
            i += 1
    return "".join(out)


class Quoting(unittest.TestCase):
    def test_hostile_segments_read_back_verbatim(self):
        for seg in [INJECTION, "layer{1+1}", "a}b", "{{", "x²", "_", "type", "Self", "0", "007", "tab\there",
                    "new\nline", "back\\slash", "quote\"", "\u202eevil", "\x00", "\x7f", "é"]:
            written = rust_quote.name_segment(seg, first=True)
            if written.startswith('"'):
                self.assertEqual(unquote(written), seg)
            else:
                self.assertTrue(rust_quote.is_identifier(written), written)
                self.assertEqual(written, seg)

    def test_words_and_numbers_stay_plain(self):
        self.assertEqual(rust_quote.name("layer1.0.conv1"), "layer1.0.conv1")
        self.assertEqual(rust_quote.name("features.007"), 'features."007"')
        self.assertEqual(rust_quote.name("0.weight"), '"0".weight')
        self.assertEqual(rust_quote.name("match"), '"match"')
        self.assertEqual(rust_quote.name("_"), '"_"')
        self.assertEqual(rust_quote.name("x²"), '"x²"')

    def test_unrepresentable_names_are_refused_by_name(self):
        for seg in ["", "\udc80"]:
            with self.assertRaises(rust_quote.Unrepresentable) as e:
                rust_quote.name_segment(seg, first=False)
            self.assertIn(repr(seg), str(e.exception))

    def test_comments_stay_one_line(self):
        for text in [INJECTION, "a\nb", "a\rb", "a\u2028b", "\u202e", "x\udc80"]:
            written = rust_quote.comment(text)
            self.assertEqual(len(written.splitlines()), 1, written)
            self.assertTrue(all(ord(c) >= 0x20 and c not in "\u2028\u202e" for c in written), repr(written))

    def test_string_literal(self):
        self.assertEqual(rust_quote.string('a"b\\c\n'), '"a\\"b\\\\c\\u{a}"')


class Files(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.d = self.dir.name

    def tearDown(self):
        self.dir.cleanup()

    def path(self, name):
        return os.path.join(self.d, name)

    def test_every_output_is_checked_before_any_is_written(self):
        os.mkdir(self.path("dir"))
        with Outputs() as out:
            with self.assertRaisesRegex(ToolError, "is a directory"):
                out.add("--out", self.path("dir"))
            with self.assertRaisesRegex(ToolError, "does not exist"):
                out.add("--out", self.path("missing/x.rs"))
            out.add("--weights", self.path("w"))
            with self.assertRaisesRegex(ToolError, "are the same file"):
                out.add("--out", self.path("w"))

    def test_a_failed_run_leaves_every_file_as_it_was(self):
        good = self.path("good.safetensors")
        with open(good, "w") as f:
            f.write("good")
        with self.assertRaises(RuntimeError):
            with Outputs() as out:
                out.add("--weights", good)
                out.add("--out", self.path("net.rs"))
                out.write("--weights", b"new")
                raise RuntimeError("the conversion fails after the weights were written")
        with open(good) as f:
            self.assertEqual(f.read(), "good")
        self.assertEqual(sorted(os.listdir(self.d)), ["good.safetensors"])

    def test_all_files_move_into_place_together_through_links(self):
        with open(self.path("target.rs"), "w") as f:
            f.write("old")
        os.chmod(self.path("target.rs"), 0o640)
        os.symlink("target.rs", self.path("link.rs"))
        with Outputs() as out:
            out.add("--out", self.path("link.rs"))
            out.add("--weights", self.path("w.safetensors"))
            out.write("--out", "new source")
            out.write("--weights", lambda tmp: open(tmp, "wb").write(b"\x00weights"))
            self.assertFalse(os.path.exists(self.path("w.safetensors")))
            out.commit()
        self.assertTrue(os.path.islink(self.path("link.rs")))
        with open(self.path("target.rs")) as f:
            self.assertEqual(f.read(), "new source")
        self.assertEqual(os.stat(self.path("target.rs")).st_mode & 0o777, 0o640)
        with open(self.path("w.safetensors"), "rb") as f:
            self.assertEqual(f.read(), b"\x00weights")
        self.assertEqual(sorted(os.listdir(self.d)), ["link.rs", "target.rs", "w.safetensors"])

    def test_a_tool_error_is_one_line_and_exit_status_2(self):
        script = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
                  "from tool_io import run, ToolError\n"
                  "def main(argv): raise ToolError('--weights w is a directory')\n"
                  "sys.exit(run('tool', main))")
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        self.assertEqual(done.returncode, 2)
        self.assertEqual(done.stderr, "tool: --weights w is a directory\n")
        self.assertEqual(done.stdout, "")


class TorchvisionWeights(unittest.TestCase):
    """tools/torchvision_weights.py checks its file before it imports PyTorch: these run
    without it."""

    def run_tool(self, *args):
        tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torchvision_weights.py")
        return subprocess.run([sys.executable, tool, *args], capture_output=True, text=True)

    def test_a_missing_input_is_one_line_and_exit_status_2(self):
        with tempfile.TemporaryDirectory() as d:
            done = self.run_tool("import", "resnet18", os.path.join(d, "missing.safetensors"))
            self.assertEqual(done.returncode, 2)
            self.assertEqual(done.stderr.count("\n"), 1, done.stderr)
            self.assertIn("missing.safetensors: no such file", done.stderr)
            done = self.run_tool("import", "resnet18", d)
            self.assertEqual((done.returncode, done.stderr.count("\n")), (2, 1), done.stderr)
            self.assertIn("is a directory", done.stderr)

    def test_a_directory_as_output_is_refused_before_any_work(self):
        with tempfile.TemporaryDirectory() as d:
            done = self.run_tool("export", "resnet18", d)
            self.assertEqual((done.returncode, done.stderr.count("\n")), (2, 1), done.stderr)
            self.assertIn("is a directory", done.stderr)
            self.assertEqual(os.listdir(d), [])


if __name__ == "__main__":
    unittest.main()
