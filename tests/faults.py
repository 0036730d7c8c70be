"""Fault injection for the tests: a disk that fills up, and a real small filesystem when the machine allows one.

`full_disk(monkeypatch, folder, budget)` makes every write to a file below `folder` fail with ENOSPC once `budget`
bytes have been written there — through `os.write` (the history log) and through Python file objects (`open`,
`io.open`: spec, report, history.h5, model.keras) and `os.posix_fallocate`; deleting or replacing a file there
gives its space back. The error is raised the way the kernel reports it: an OSError
with errno 28 and no file name, so the code under test must name the file itself.

`tmpfs_command(mount, size, argv, keep=DIR)` runs a command with a real tmpfs of `size` bytes mounted on the folder
`mount` (in a private mount namespace through `unshare`: nothing outside sees it) and copies what the command left
there to `keep` afterwards; `tmpfs_available()` says whether this machine allows it.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import shlex
import shutil
import subprocess
from pathlib import Path

class _Budget:
    def __init__(self, folder: Path, budget: int):
        self.folder, self.left, self.failures = str(Path(folder).resolve()), budget, 0

    def covers(self, path) -> bool:
        try:
            return os.path.realpath(os.fspath(path)).startswith(self.folder)
        except TypeError:  # a file descriptor or something else: not ours
            return False

    def refund(self, path) -> None:
        """A file below the folder is deleted or replaced: its space is free again (as on a real disk)."""
        try:
            if self.covers(path):
                self.left += max(0, os.stat(path).st_size)
        except OSError:
            pass

    def spend(self, n: int) -> int:
        """How many of n bytes still fit; raises ENOSPC when none does."""
        if self.left <= 0:
            self.failures += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fits = min(n, self.left)
        self.left -= fits
        return fits


class _LimitedFile(io.RawIOBase):
    """A writable binary file that takes bytes until the budget is spent, then fails like a full disk."""

    def __init__(self, raw, budget: _Budget):
        self._raw, self._budget = raw, budget

    def writable(self):
        return True

    def readable(self):
        return self._raw.readable()

    def seekable(self):
        return self._raw.seekable()

    def write(self, data) -> int:
        fits = self._budget.spend(len(data))
        return self._raw.write(bytes(memoryview(data)[:fits]))

    def readinto(self, b):
        return self._raw.readinto(b)

    def seek(self, *args):
        return self._raw.seek(*args)

    def tell(self):
        return self._raw.tell()

    def truncate(self, *args):
        return self._raw.truncate(*args)

    def fileno(self):
        return self._raw.fileno()

    def flush(self):
        if not self._raw.closed:
            self._raw.flush()

    def close(self):
        if not self.closed:
            super().close()
            self._raw.close()

    @property
    def name(self):
        return self._raw.name


def full_disk(monkeypatch, folder, budget: int) -> _Budget:
    """After `budget` bytes written below `folder`, every further write there fails with ENOSPC."""
    state = _Budget(folder, budget)
    real_write, real_open = os.write, io.open

    def write(fd, data):
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            path = None
        if path is None or not state.covers(path):
            return real_write(fd, data)
        fits = state.spend(len(data))
        return real_write(fd, bytes(memoryview(data)[:fits]))

    def open_(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True, opener=None):
        writing = any(c in mode for c in "wax+")
        target = file if not isinstance(file, int) else f"/proc/self/fd/{file}"
        if not writing or not state.covers(target):
            return real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
        raw = real_open(file, mode.replace("t", "") + ("b" if "b" not in mode else ""), buffering=0,
                        closefd=closefd, opener=opener)
        limited = _LimitedFile(raw, state)
        if "b" in mode:
            return limited if buffering == 0 else io.BufferedRandom(limited) if "+" in mode else \
                io.BufferedWriter(limited)
        return io.TextIOWrapper(io.BufferedWriter(limited), encoding=encoding or "utf-8", errors=errors,
                                newline=newline)

    real_unlink, real_replace, real_truncate = os.unlink, os.replace, os.ftruncate

    def unlink(path, *args, **kwargs):
        state.refund(path)
        return real_unlink(path, *args, **kwargs)

    def replace(src, dst, *args, **kwargs):
        state.refund(dst)
        return real_replace(src, dst, *args, **kwargs)

    def ftruncate(fd, length):
        size = os.fstat(fd).st_size
        if length < size and state.covers(f"/proc/self/fd/{fd}"):
            state.left += size - length
        return real_truncate(fd, length)

    real_fallocate = getattr(os, "posix_fallocate", None)

    def fallocate(fd, offset, length):
        if state.covers(f"/proc/self/fd/{fd}"):
            grow = max(0, offset + length - os.fstat(fd).st_size)
            if grow > state.left:  # all or nothing, as the kernel does
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            state.left -= grow
        return real_fallocate(fd, offset, length)

    if real_fallocate is not None:
        monkeypatch.setattr(os, "posix_fallocate", fallocate)
    monkeypatch.setattr(os, "unlink", unlink)
    monkeypatch.setattr(os, "remove", unlink)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "ftruncate", ftruncate)
    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)
    return state


def tmpfs_available() -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        probe = subprocess.run(["unshare", "-r", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /tmp"],
                               capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def tmpfs_command(mount: Path, size: int, argv: list[str], keep: Path, fill: int = 0,
                  **kwargs) -> subprocess.CompletedProcess:
    """Run argv with a fresh tmpfs of `size` bytes on `mount`, `fill` bytes of it already taken; what is left on it
    afterwards is copied to `keep` (the command's exit status is kept)."""
    mount, keep = Path(mount), Path(keep)
    mount.mkdir(parents=True, exist_ok=True)
    keep.mkdir(parents=True, exist_ok=True)
    q = shlex.quote
    script = f"mount -t tmpfs -o size={size} tmpfs {q(str(mount))} || exit 97; "
    if fill:
        script += f"head -c {fill} /dev/zero > {q(str(mount / '.filler'))} 2>/dev/null; "
    script += " ".join(q(a) for a in argv) + "; rc=$?; "
    script += f"rm -f {q(str(mount / '.filler'))}; cp -a {q(str(mount))}/. {q(str(keep))}/; exit $rc"
    return subprocess.run(["unshare", "-r", "-m", "sh", "-c", script], **kwargs)
