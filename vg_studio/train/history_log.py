"""history.log: the append-only journal of a run while it is written (layout: docs/file-formats.md).

Each probe record and each completed epoch is one frame appended with a single write: O(new data), whatever the
length of the run. A frame is

    [4 bytes FRAME_MARK][u32 payload length][u32 sequence number][u32 CRC-32][payload]      (little-endian)

where the CRC covers the log's id, the length, the sequence number and the payload. The mark lets a reader find
the next frame after damage; the CRC makes a zero-filled or foreign block (what a power cut can leave after the
last fsync, or a block of another file) fail, and the sequence number says how many frames a damaged stretch cost.
A reader takes every intact frame — before and after damage — and reports what it skipped (`LogReader.notes`); an
incomplete frame at the end (a `kill -9` mid-write, or a write still under way) is left for later.

The payload is `[u32 n][n bytes of JSON meta][raw little-endian arrays named in meta["arrays"]]` — plain numbers,
nothing a reader executes. The writer is `vg_studio.train.runstore.RunStore`; when the run ends it folds everything
into history.h5 and removes the log. Logs of the first format (`VGSLOG1`, frames without mark or sequence number)
are still read, up to their first damaged frame.
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

MAGIC = b"VGSLOG2\n"
MAGIC_V1 = b"VGSLOG1\n"  # frames [u32 length][u32 crc32(payload)]: read, never written
HEADER_SIZE = len(MAGIC) + 16  # magic + the log's id (16 random bytes, also stored in history.h5)
FRAME_MARK = b"\xf5VGF"  # 0xF5 never occurs in UTF-8 text, and a zero block never holds it
FRAME_HEAD = struct.Struct("<4sIII")  # mark, payload length, sequence number, CRC-32
FRAME_HEAD_V1 = struct.Struct("<II")
META_LEN = struct.Struct("<I")
DTYPES = {"<f8": np.float64, "<f4": np.float32, "<i8": np.int64, "|b1": np.bool_}
FRAME_LIMIT = 2**30  # one record of 100,000 layers x 63 statistics is 50 MB
SCAN_CHUNK = 1 << 20  # bytes read at a time while looking for the next frame after damage
SCAN_CANDIDATES = 100_000  # frame marks tried after one damaged stretch before the rest is given up


class LogError(ValueError):
    """A log that is not a VG Studio history log, or a frame that cannot be used; one line."""


# ---- frames ---------------------------------------------------------------------------------------------------
def encode_payload(meta: dict, arrays: dict | None = None) -> bytes:
    """A frame's payload: the JSON description, then the arrays' raw bytes."""
    arrays = {name: _wire(value) for name, value in (arrays or {}).items()}
    meta = {**meta, "arrays": [[name, a.dtype.str, list(a.shape)] for name, a in arrays.items()]}
    text = json.dumps(meta, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    return b"".join([META_LEN.pack(len(text)), text, *(a.tobytes() for a in arrays.values())])


def frame_checksum(log_id: bytes, length: int, seq: int, payload: bytes | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(struct.pack("<II", length, seq), zlib.crc32(log_id)))


def encode_frame(payload: bytes, log_id: bytes, seq: int) -> bytes:
    """One frame of the log `log_id`, the `seq`-th (0-based) since its header."""
    return FRAME_HEAD.pack(FRAME_MARK, len(payload), seq, frame_checksum(log_id, len(payload), seq, payload)) \
        + payload


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
            raise LogError(f"{where}: array {name[:40]!r} declares {size:,} bytes; the frame holds "
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
        self.seq = 0  # the next frame's sequence number
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        self.size = 0
        try:
            self._write(MAGIC + log_id)
        except BaseException:
            self.close()
            raise

    def append(self, payloads: list[bytes]) -> int:
        """Append one frame per payload in one write; returns the bytes written."""
        data = b"".join(encode_frame(p, self.log_id, self.seq + i) for i, p in enumerate(payloads))
        if data:
            self._write(data)
            self.seq += len(payloads)
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
    keeps one open: if the writer removes the log when the run ends, the open file still holds every frame).

    Damage in the middle (a block of zeros, a flipped bit, an absurd length) is skipped: the reader looks for the
    next intact frame and goes on from there; `notes()` says in one line each what was skipped."""

    def __init__(self, path: str | os.PathLike, max_bytes: int):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.offset = 0
        self.log_id = b""
        self.version = 0
        self.next_seq: int | None = None  # the sequence number the next frame should carry (None: not known yet)
        self.damaged: list[tuple[int, int]] = []  # (first byte, first byte after) of each stretch skipped
        self.lost_frames = 0  # frames the damaged stretches held, from the sequence numbers around them
        self._scan = (-1, 0, None)  # (damage start, scanned up to, first frame still incomplete) of the last scan
        self.unsearched_from: int | None = None  # damage after which the search for intact frames gave up
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
        magic = head[: len(MAGIC)]
        if len(head) < HEADER_SIZE:
            if not (MAGIC.startswith(magic) or MAGIC_V1.startswith(magic)):
                raise LogError(f"{self.path}: not a VG Studio history log")
            return False
        if magic not in (MAGIC, MAGIC_V1):
            raise LogError(f"{self.path}: not a VG Studio history log")
        self.version = 2 if magic == MAGIC else 1
        self.log_id, self.offset = head[len(MAGIC):], HEADER_SIZE
        return True

    def skip_to(self, offset: int) -> None:
        self.offset = max(self.offset, offset)

    def frames(self):
        """Yield (meta, arrays) for each intact frame after the last one read."""
        if not self.header():
            return
        size = os.fstat(self._fd).st_size
        if size > self.max_bytes:
            raise LogError(f"{self.path}: {size:,} bytes; the limit is {self.max_bytes:,} (VG_STUDIO_LIMITS "
                           "history_bytes)")
        payloads = self._payloads_v1(size) if self.version == 1 else self._payloads(size)
        for start, payload in payloads:
            yield decode_payload(payload, f"{self.path} (byte {start})")

    def _payloads(self, size: int):
        while self.offset + FRAME_HEAD.size <= size and self.unsearched_from is None:
            frame = self._intact_frame(self.offset, size)
            if frame is None:
                found = self._next_intact_frame(self.offset, size)
                if found is None:
                    return  # an incomplete frame being written, or damage at the end: wait, or say so
                self.damaged.append((self.offset, found))
                self.offset = found
                frame = self._intact_frame(found, size)
            start = self.offset
            end, seq, payload = frame
            if self.next_seq is not None and seq != self.next_seq:
                self.lost_frames += max(seq - self.next_seq, 0)
            self.next_seq = seq + 1
            self.offset = end
            yield start, payload

    def _intact_frame(self, at: int, size: int):
        """(end, sequence number, payload) of the intact frame at byte `at`, or None."""
        head = os.pread(self._fd, FRAME_HEAD.size, at)
        if len(head) < FRAME_HEAD.size:
            return None
        mark, length, seq, crc = FRAME_HEAD.unpack(head)
        end = at + FRAME_HEAD.size + length
        if mark != FRAME_MARK or length > FRAME_LIMIT or end > size:
            return None
        if self.next_seq is not None and seq < self.next_seq:
            return None  # a frame never goes back: a stale copy of an earlier one is no frame here
        payload = os.pread(self._fd, length, at + FRAME_HEAD.size)
        if len(payload) != length or frame_checksum(self.log_id, length, seq, payload) != crc:
            return None
        return end, seq, payload

    def _next_intact_frame(self, damaged_at: int, size: int) -> int | None:
        """The first byte after `damaged_at` where an intact frame starts, or None. A follower that asks again
        for the same damage scans only what is new (and any frame that was still incomplete last time). At most
        SCAN_CANDIDATES marks are tried per damaged stretch: random damage holds about one per 4 GiB, so a stretch
        with more is made to be slow and the rest of the log is left unread (`notes` says so)."""
        start, scanned, pending = self._scan
        position = damaged_at + 1
        if start == damaged_at:
            position = max(position, scanned - FRAME_HEAD.size) if pending is None else pending
        pending, tried = None, 0
        while position + FRAME_HEAD.size <= size:
            chunk = os.pread(self._fd, min(SCAN_CHUNK, size - position), position)
            index = chunk.find(FRAME_MARK)
            while index >= 0:
                candidate = position + index
                tried += 1
                if tried > SCAN_CANDIDATES:
                    self.unsearched_from = damaged_at
                    return None
                if self._intact_frame(candidate, size) is not None:
                    self._scan = (-1, 0, None)
                    return candidate
                if pending is None and self._incomplete(candidate, size):
                    pending = candidate
                index = chunk.find(FRAME_MARK, index + 1)
            position += max(len(chunk) - len(FRAME_MARK) + 1, 1)
        self._scan = (damaged_at, size, pending)
        return None

    def _incomplete(self, at: int, size: int) -> bool:
        """A frame head at `at` whose frame runs past the end: it may still be being written."""
        head = os.pread(self._fd, FRAME_HEAD.size, at)
        if len(head) < FRAME_HEAD.size:
            return True
        mark, length, _, _ = FRAME_HEAD.unpack(head)
        return mark == FRAME_MARK and length <= FRAME_LIMIT and at + FRAME_HEAD.size + length > size

    def _payloads_v1(self, size: int):
        """The first format: frames up to the first one that is not intact (no mark to find the next one by)."""
        while self.offset + FRAME_HEAD_V1.size <= size:
            length, crc = FRAME_HEAD_V1.unpack(os.pread(self._fd, FRAME_HEAD_V1.size, self.offset))
            end = self.offset + FRAME_HEAD_V1.size + length
            if end > size or length > FRAME_LIMIT or length < META_LEN.size:
                return
            payload = os.pread(self._fd, length, self.offset + FRAME_HEAD_V1.size)
            if len(payload) != length or zlib.crc32(payload) != crc:
                return
            start, self.offset = self.offset, end
            yield start, payload

    @property
    def trailing_bytes(self) -> int:
        """Bytes after the last intact frame (an interrupted write, one in progress, or damage at the end)."""
        return max(0, os.fstat(self._fd).st_size - self.offset) if self.offset else 0

    def notes(self, end: bool = True) -> list[str]:
        """One line for the damage skipped, one (with `end`) for what is left after the last intact frame; none
        for a whole log."""
        out, name = [], self.path.name
        if self.damaged:
            spans = ", ".join(f"{a:,}–{b - 1:,}" for a, b in self.damaged[:3]) + (" …" if len(self.damaged) > 3
                                                                                  else "")
            lost = f"; {self.lost_frames:,} frame{'s' * (self.lost_frames != 1)} lost" if self.lost_frames else ""
            out.append(f"{name}: {sum(b - a for a, b in self.damaged):,} damaged bytes skipped (bytes {spans}"
                       f"{lost}); every intact frame before and after them is read")
        trailing = self.trailing_bytes if end or self.unsearched_from is not None else 0
        if self.unsearched_from is not None:
            out.append(f"{name}: damaged from byte {self.unsearched_from:,} with more than {SCAN_CANDIDATES:,} "
                       f"false frame marks; the last {trailing:,} bytes are not read")
        elif trailing:
            tail = os.pread(self._fd, min(trailing, SCAN_CHUNK), self.offset)
            what = ("zeros (what a power cut can leave)" if not tail.strip(b"\0") else
                    "not a complete frame (the run was interrupted, or is still writing)")
            out.append(f"{name}: the last {trailing:,} bytes are {what}; ignored")
        return out
