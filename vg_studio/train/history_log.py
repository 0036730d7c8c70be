"""history.log: the append-only journal of a run while it is written (layout: docs/file-formats.md).

Each probe record and each completed epoch is one frame appended with a single write: O(new data), whatever the
length of the run. A frame is `[u32 length][u32 crc32][payload]`; a reader takes complete frames whose checksum
matches and stops at the first that is not (a `kill -9` mid-write leaves at most one torn frame at the end). The
payload is `[u32 n][n bytes of JSON meta][raw little-endian arrays named in meta["arrays"]]` — plain numbers, nothing
a reader executes. The writer is `vg_studio.train.runstore.RunStore`; when the run ends it folds everything into
history.h5 and removes the log.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np

from vg_studio.safeio import UnreadableFile, loads_json

MAGIC = b"VGSLOG1\n"
HEADER_SIZE = len(MAGIC) + 16  # magic + the log's id (16 random bytes, also stored in history.h5)
FRAME_HEAD = struct.Struct("<II")
META_LEN = struct.Struct("<I")
DTYPES = {"<f8": np.float64, "<f4": np.float32, "<i8": np.int64, "|b1": np.bool_}
FRAME_LIMIT = 2**30  # one record of 100,000 layers x 63 statistics is 50 MB


class LogError(ValueError):
    """A log that is not a VG Studio history log, or a frame that cannot be used; one line."""


# ---- frames ---------------------------------------------------------------------------------------------------
def encode_frame(meta: dict, arrays: dict | None = None) -> bytes:
    arrays = {name: _wire(value) for name, value in (arrays or {}).items()}
    meta = {**meta, "arrays": [[name, a.dtype.str, list(a.shape)] for name, a in arrays.items()]}
    text = json.dumps(meta, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    payload = b"".join([META_LEN.pack(len(text)), text, *(a.tobytes() for a in arrays.values())])
    return FRAME_HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def _wire(value) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind == "f":
        a = a.astype("<f4" if a.dtype.itemsize == 4 else "<f8")
    elif a.dtype.kind in "iu":
        a = a.astype("<i8")
    elif a.dtype.kind != "b":
        raise TypeError(f"cannot log an array of {a.dtype}")
    return np.require(a, requirements="C")  # not ascontiguousarray: it makes a scalar a 1-element array


def decode_payload(payload: bytes, where: str) -> tuple[dict, dict]:
    if len(payload) < META_LEN.size:
        raise LogError(f"{where}: frame too short")
    (n,) = META_LEN.unpack_from(payload)
    if n > len(payload) - META_LEN.size:
        raise LogError(f"{where}: frame header larger than the frame")
    try:
        meta = loads_json(payload[META_LEN.size: META_LEN.size + n], where)
    except UnreadableFile as exc:
        raise LogError(str(exc)) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("arrays", []), list):
        raise LogError(f"{where}: frame without a description")
    arrays, offset = {}, META_LEN.size + n
    for entry in meta.pop("arrays", []):
        if (not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[0], str)
                or entry[1] not in DTYPES or not isinstance(entry[2], list)
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**31 for d in entry[2])
                or len(entry[2]) > 3):
            raise LogError(f"{where}: an array described as {str(entry)[:60]}")
        name, dtype, shape = entry
        count = math.prod(shape)
        size = count * np.dtype(DTYPES[dtype]).itemsize
        if size > len(payload) - offset:  # checked against the bytes present: no allocation from a claim
            raise LogError(f"{where}: array {name!r} declares {size:,} bytes; the frame holds "
                           f"{len(payload) - offset:,}")
        arrays[name] = np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(tuple(shape))
        offset += size
    if offset != len(payload):
        raise LogError(f"{where}: {len(payload) - offset} bytes after the last array")
    return meta, arrays


# ---- writing --------------------------------------------------------------------------------------------------
class LogWriter:
    """Appends frames to a new log. A failed append (a full disk) is cut off again, so the log stays a sequence of
    complete frames, and the error names the file."""

    def __init__(self, path: str | os.PathLike, log_id: bytes):
        self.path = Path(path)
        self.log_id = log_id
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        self.size = 0
        try:
            self._write(MAGIC + log_id)
        except BaseException:
            self.close()
            raise

    def append(self, frames: list[bytes]) -> int:
        """Append in one write; returns the bytes written."""
        data = b"".join(frames)
        if data:
            self._write(data)
        return len(data)

    def _write(self, data: bytes) -> None:
        good = self.size
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            try:
                os.ftruncate(self._fd, good)
                os.lseek(self._fd, good, os.SEEK_SET)
            except OSError:
                pass
            raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno or errno.EIO), str(self.path)) from None
        self.size = good + len(data)

    def sync(self) -> None:
        """Down to the disk (a process kill loses nothing without this; a power cut would)."""
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


# ---- reading --------------------------------------------------------------------------------------------------
class LogReader:
    """Reads a log from its start and, called again, whatever complete frames were appended since (a follower
    keeps one open: if the writer removes the log when the run ends, the open file still holds every frame)."""

    def __init__(self, path: str | os.PathLike, max_bytes: int):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.offset = 0
        self.log_id = b""
        info = os.stat(self.path)  # FileNotFoundError for the caller: no log (yet)
        if not stat.S_ISREG(info.st_mode):
            raise LogError(f"{self.path}: not a regular file")
        # O_NONBLOCK: a FIFO swapped in between the check and the open must not block us
        self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        if not stat.S_ISREG(os.fstat(self._fd).st_mode):
            self.close()
            raise LogError(f"{self.path}: not a regular file")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def removed(self) -> bool:
        """The writer removed the log (the run's records are all in history.h5 now, and in our open file)."""
        return os.fstat(self._fd).st_nlink == 0

    def header(self) -> bool:
        """Read the header once it is there; False while the writer has not written it yet."""
        if self.offset:
            return True
        head = os.pread(self._fd, HEADER_SIZE, 0)
        if len(head) < HEADER_SIZE:
            if not MAGIC.startswith(head[: len(MAGIC)]):
                raise LogError(f"{self.path}: not a VG Studio history log")
            return False
        if head[: len(MAGIC)] != MAGIC:
            raise LogError(f"{self.path}: not a VG Studio history log")
        self.log_id, self.offset = head[len(MAGIC):], HEADER_SIZE
        return True

    def skip_to(self, offset: int) -> None:
        self.offset = max(self.offset, offset)

    def frames(self):
        """Yield (meta, arrays) for each complete frame after the last one read."""
        if not self.header():
            return
        size = os.fstat(self._fd).st_size
        if size > self.max_bytes:
            raise LogError(f"{self.path}: {size:,} bytes; the limit is {self.max_bytes:,} (VG_STUDIO_LIMITS "
                           "history_bytes)")
        while self.offset + FRAME_HEAD.size <= size:
            length, crc = FRAME_HEAD.unpack(os.pread(self._fd, FRAME_HEAD.size, self.offset))
            end = self.offset + FRAME_HEAD.size + length
            if end > size or length > FRAME_LIMIT:
                return  # torn or still being written: the consistent prefix ends here
            payload = os.pread(self._fd, length, self.offset + FRAME_HEAD.size)
            if len(payload) != length or zlib.crc32(payload) != crc:
                return
            where = f"{self.path} (byte {self.offset})"
            self.offset = end
            yield decode_payload(payload, where)

    @property
    def trailing_bytes(self) -> int:
        """Bytes after the last complete frame (a torn write, or one in progress)."""
        return max(0, os.fstat(self._fd).st_size - self.offset) if self.offset else 0
