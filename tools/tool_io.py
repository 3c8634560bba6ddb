"""How the tools in tools/ fail and write their files.

A tool's mistake or the user's is one line on standard error naming the problem, and exit
status 2 (`ToolError`, `run`); never a traceback. Output files are checked before any work is
done (not a directory, in a directory that exists and can be written), written to temporaries
beside their targets, and moved into place only when every one of them is complete, so a failed
run leaves every existing file as it was. A path that is a symbolic link is written through, as
the library's own saves do: the link stays and its target is replaced. Nothing here needs PyTorch.
"""

import os
import sys
import tempfile


class ToolError(Exception):
    """A problem the user can fix, said in one line."""


def run(prog, main, argv=None):
    """Runs `main(argv)`; a `ToolError` becomes `prog: message` on standard error and exit
    status 2. Returns main's exit status."""
    try:
        return main(argv)
    except ToolError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2


class Outputs:
    """The files one run writes: all of them or none.

        with Outputs() as out:
            out.add("--weights", path)          # checked now
            ...                                 # the run's work
            out.write("--weights", data)        # bytes, or a function writing a given path
            out.commit()                        # every file moved into place
    """

    def __init__(self):
        self.targets = {}  # role -> (path as given, real path)
        self.temps = {}  # role -> temporary path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for tmp in self.temps.values():
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        self.temps.clear()
        return False

    def add(self, role, path):
        """Checks that `path` can be written, before anything is."""
        real = os.path.realpath(path)
        if os.path.isdir(real):
            raise ToolError(f"{role} {path} is a directory; give a file name")
        parent = os.path.dirname(real)
        if not os.path.isdir(parent):
            raise ToolError(f"{role} {path}: the directory {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ToolError(f"{role} {path}: the directory {parent} cannot be written")
        for other, (other_path, other_real) in self.targets.items():
            if other_real == real:
                raise ToolError(f"{role} {path} and {other} {other_path} are the same file")
        self.targets[role] = (path, real)

    def write(self, role, data):
        """Writes the file of `role` to a temporary beside its target: `data` is bytes or text,
        or a function that writes a file at the path it is given."""
        path, real = self.targets[role]
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(real), prefix=f".{os.path.basename(real)}.", suffix=".tmp")
        self.temps[role] = tmp
        try:
            if callable(data):
                os.close(fd)
                data(tmp)
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(data.encode() if isinstance(data, str) else data)
        except OSError as e:
            raise ToolError(f"{role} {path}: {e.strerror or e}") from None
        # mkstemp makes the file private; the target gets the mode a new file would have, or
        # the one the file it replaces had.
        try:
            mode = os.stat(real).st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)

    def commit(self):
        """Moves every written file into place."""
        for role, tmp in list(self.temps.items()):
            os.replace(tmp, self.targets[role][1])
            del self.temps[role]
