"""Files written so that a reader (or a crash) never sees a torn one: a temporary file beside the target, synced,
then renamed over it in one step."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from pathlib import Path


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file so that readers see either the old or the new content, never a torn one."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp"):
    """Yield a temporary path beside `path`; once the block has written it, it is synced to disk and renamed over
    `path` in one step. On any error the temporary file is removed and `path` is left as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=suffix)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make every run file private to its writer
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not exc.filename:  # a full disk says only "No space left on device"
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


# ---- strict reading of files VG Studio did not necessarily write --------------------------------------------
class UnreadableFile(ValueError):
    """A file that cannot be used; the message is one line that names the file and the problem."""


def regular_file(path: str | os.PathLike, what: str = "file", max_bytes: int | None = None,
                 limit_name: str = "") -> os.stat_result:
    """stat() of a regular file no larger than `max_bytes`; a FIFO, a device or a folder is refused before it is
    opened (reading a FIFO would block forever). `limit_name` names the VG_STUDIO_LIMITS entry to raise."""
    import stat

    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise UnreadableFile(f"{path}: a link to a missing file ({os.readlink(path)})") from None
        raise UnreadableFile(f"{path}: file not found") from None
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile(f"{path}: not a regular file (a {what} must be one)")
    if max_bytes is not None and info.st_size > max_bytes:
        raise UnreadableFile(f"{path}: the {what} is {info.st_size:,} bytes; the limit is {max_bytes:,} "
                             f"(VG_STUDIO_LIMITS {limit_name or 'raises it'})")
    return info


def read_regular_file(path: str | os.PathLike, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a regular file no larger than `max_bytes` (see `regular_file`)."""
    import stat

    path = Path(path)
    regular_file(path, what, max_bytes)
    try:
        # O_NONBLOCK: a FIFO swapped in after the check above must not block the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnreadableFile(f"{path}: not a regular file")
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # it grew while we looked
        raise UnreadableFile(f"{path}: the {what} is larger than the limit of {max_bytes:,} bytes")
    return data


def loads_json(text: str | bytes, source: str = "JSON", max_depth: int | None = None,
               max_int_digits: int | None = None, nan_as_none: bool = False):
    """json.loads that refuses, with one line, what the standard parser turns into a RecursionError, a
    multi-thousand-digit integer or NaN/Infinity (not JSON; `nan_as_none` reads them as null instead, for files
    older VG Studio versions wrote with Python's json), and a key given twice in one object (the standard parser
    silently keeps the last: `"epochs": 1, "epochs": 500` would train 500 epochs). A UTF-8 byte order mark (what
    some Windows editors write) is skipped."""
    from vg_studio.limits import LIMITS

    max_depth = LIMITS.json_depth if max_depth is None else max_depth
    max_int_digits = LIMITS.json_int_digits if max_int_digits is None else max_int_digits
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableFile(f"{source}: not UTF-8 text (byte {exc.start})") from None
    text = text.removeprefix("\ufeff")
    # nesting can be no deeper than the number of brackets: most documents need no scan at all
    depth = 0 if text.count("[") + text.count("{") <= max_depth else _max_nesting(text)
    if depth > max_depth:
        raise UnreadableFile(f"{source}: nested {depth} levels deep; the limit is {max_depth}")

    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > max_int_digits:
            raise UnreadableFile(f"{source}: an integer with {len(digits.lstrip('-')):,} digits; the limit is "
                                 f"{max_int_digits}")
        return int(digits)

    def non_finite(problem: str):
        if nan_as_none:
            return None
        raise UnreadableFile(f"{source}: {problem}")

    def parse_float(digits: str):
        value = float(digits)
        if math.isinf(value):  # 1e309: valid JSON, but no float holds it
            return non_finite(f"the number {digits[:30]} (beyond the float range)")
        return value

    try:
        return json.loads(text, parse_int=parse_int, parse_constant=lambda name: non_finite(f"{name} is not valid JSON"), parse_float=parse_float,
                          object_pairs_hook=unique_keys(source))
    except json.JSONDecodeError as exc:
        raise UnreadableFile(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:  # a depth _max_nesting could not see
        raise UnreadableFile(f"{source}: nested too deeply") from None


def unique_keys(source: str):
    """A json `object_pairs_hook` that refuses a key given twice in one object."""
    def build(pairs: list) -> dict:
        data = dict(pairs)
        if len(data) != len(pairs):
            seen = set()
            twice = next(k for k, _ in pairs if k in seen or seen.add(k))
            raise UnreadableFile(f"{source}: the key {json.dumps(twice, ensure_ascii=False)[:80]} appears twice in "
                                 "one object (which one is meant?)")
        return data
    return build


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def _max_nesting(text: str) -> int:
    """The deepest nesting of [ and { outside strings: a linear scan, no recursion."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_JSON_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def read_json_file(path: str | os.PathLike, max_bytes: int | None = None, what: str = "JSON file",
                   nan_as_none: bool = False):
    """A JSON document from a regular file, within the size and nesting limits (vg_studio.limits)."""
    from vg_studio.limits import LIMITS

    data = read_regular_file(path, LIMITS.json_bytes if max_bytes is None else max_bytes, what)
    return loads_json(data, str(path), nan_as_none=nan_as_none)


def strict_json(value):
    """`value` with every non-finite float replaced by None: what `json.dumps(allow_nan=False)` accepts and every
    JSON reader can read back."""
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value
