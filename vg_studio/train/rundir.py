"""Run directories as units: one writer at a time (a lock the OS drops when the writer dies), what a folder holds
(nothing, a run, or someone's files), and replacing a whole run in one step.

A run directory's files always belong to one run: a new run never writes into a folder holding another run's or
the user's files. Replacing a run (`--overwrite`) builds the new run in a hidden folder beside it and swaps the two
folders atomically (Linux `renameat2(RENAME_EXCHANGE)`; elsewhere two renames) once the new run has really
started; until then the old run is untouched, and a failure before that leaves it as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path


class RunStoreError(ValueError):
    """A run directory or one of its files that cannot be read or written; one line naming the file."""

RUN_MARKERS = ("history.h5", "history.log", "report.json")  # a folder holding any of these holds a run
RUN_FILES = ("spec.json", "model.json", "model.keras", *RUN_MARKERS)
SUMMARY_FORMAT = "vg_studio.model_summary"  # model.json's "format" (runstore reads it, train/summary.py writes it)
PRIVATE = (".lock", ".reserve")  # the writer's own files
STAGING = ".vgs-"  # hidden folders beside a run: ".<name>.vgs-<pid>-<random>"

_held: dict[str, "_Lock"] = {}  # run directories this process holds the lock of (real path -> lock)


class _Lock:
    def __init__(self, handle, created: bool):
        self.handle, self.count, self.store, self.created = handle, 1, False, created


def _flock(handle) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock; one writer is the user's responsibility there
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _key(folder: Path) -> str:
    return os.path.realpath(folder)


def acquire(folder: Path, store: bool = False) -> None:
    """Take `folder`'s writer lock (creating the folder), or raise RunStoreError if another process holds it. A
    process may take it again (the CLI takes it before the trainer's RunStore does): it is counted; but only one
    `store` (a RunStore) at a time writes a folder."""
    key = _key(folder)
    if key in _held:
        if store and _held[key].store:
            raise RunStoreError(f"{folder}: another run is writing to this directory; wait for it or choose "
                                "another folder")
        _held[key].count += 1
        _held[key].store |= store
        return
    created = not folder.exists()
    for _ in range(5):  # the lock file may be removed by a finishing writer between our open and our lock
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle = open(folder / ".lock", "a")  # noqa: SIM115 - held for the run's lifetime
        except OSError as exc:
            raise RunStoreError(f"{folder}: cannot write the run directory ({exc.strerror or exc})") from None
        if not _flock(handle):
            handle.close()
            raise RunStoreError(f"{folder}: another run is writing to this directory; wait for it or choose "
                                "another folder")
        if _same_file(handle, folder / ".lock"):
            break
        handle.close()
    _held[key] = _Lock(handle, created)
    _held[key].store = store


def _same_file(handle, path: Path) -> bool:
    try:
        return os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
    except OSError:
        return False


def release(folder: Path, store: bool = False) -> None:
    lock = _held.get(_key(folder))
    if lock is not None:
        lock.count -= 1
        lock.store &= not store
        if lock.count <= 0:  # the last holder: the lock file goes too (a run directory holds only the run)
            if _same_file(lock.handle, folder / ".lock"):
                try:
                    os.unlink(folder / ".lock")
                except OSError:
                    pass
            lock.handle.close()
            del _held[_key(folder)]
            if lock.created:  # a run that never wrote a file leaves no empty folder behind
                try:
                    folder.rmdir()
                except OSError:
                    pass


def abandon(folder: Path) -> None:
    """This process ends now without unwinding (a second Ctrl-C): every hold on `folder` is let go as the last
    release would, its lock file removed (the lock itself ends with the process)."""
    lock = _held.get(_key(folder))
    if lock is not None:
        lock.count = 1
        release(folder)


def writer_alive(folder: Path) -> bool:
    """Whether a live process holds `folder`'s writer lock — without creating anything (a reader's question)."""
    if _key(folder) in _held:
        return True
    try:
        fd = os.open(folder / ".lock", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False  # no lock file: every writer takes one first and removes it only after the report
    try:
        import fcntl
    except ImportError:
        os.close(fd)
        return True  # cannot tell: assume it is still being written
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def is_locked_by_another_process(folder: Path) -> bool:
    """Whether a live writer holds `folder` (a killed one's lock is gone with it)."""
    if _key(folder) in _held:
        return False
    try:
        with open(folder / ".lock", "a") as handle:
            return not _flock(handle)
    except OSError:
        return False


@contextlib.contextmanager
def locked(folder: str | os.PathLike):
    """Hold `folder`'s writer lock for the block."""
    folder = Path(folder)
    acquire(folder)
    try:
        yield
    finally:
        release(folder)


@contextlib.contextmanager
def pinned(folder: Path):
    """A path through which every file read comes from this very folder, even if a run replaces it meanwhile
    (on Linux the /proc/self/fd link of the open folder; elsewhere the folder itself)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        yield folder
        return
    try:
        link = Path(f"/proc/self/fd/{fd}")
        yield link if link.is_dir() else folder
    finally:
        os.close(fd)


def replaced(pinned_path: Path, folder: Path) -> bool:
    """Whether the folder `pinned` opened is no longer the one at `folder` (a run swapped in over it)."""
    try:
        return os.stat(pinned_path).st_ino != os.stat(folder).st_ino
    except OSError:
        return True


def contents(folder: Path) -> tuple[str, list[str]]:
    """("empty" | "run" | "unstarted" | "foreign", the names that decided it). "foreign": files that are not a run's — the
    user's own, or a run file without a run beside it (a spec.json someone keeps there)."""
    try:
        names = sorted(n for n in os.listdir(folder) if n not in PRIVATE and STAGING not in n)
    except FileNotFoundError:
        return "empty", []
    except NotADirectoryError:
        return "foreign", [folder.name]
    except OSError as exc:
        raise RunStoreError(f"{folder}: cannot read the folder ({exc.strerror or exc})") from None
    if not names:
        return "empty", []
    strangers = [n for n in names if n not in RUN_FILES]
    if not strangers and names == ["model.json"] and _written_by_a_run(folder / "model.json"):
        return "unstarted", names
    if strangers or not any(n in RUN_MARKERS for n in names):
        return "foreign", strangers or names
    return "run", names


def _written_by_a_run(path: Path) -> bool:
    """Whether `path` is a model.json that VG Studio's monitor wrote (it writes it first, at on_train_begin: a run
    that crashed before its first record leaves only this file). Never a user's file: it carries our format."""
    import json

    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(1 << 20))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == SUMMARY_FORMAT


def check_writable_target(folder: Path, overwrite: bool) -> str:
    """What writing a run to `folder` means ("new" or "replace"); raises RunStoreError if it must not."""
    if folder.exists() and not folder.is_dir():
        raise RunStoreError(f"{folder}: not a folder")
    kind, names = contents(folder)
    if kind == "foreign":
        shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
        raise RunStoreError(f"{folder}: holds files that are not part of a VG Studio run ({shown}); a run is "
                            "written into a new or empty folder, never over your files — choose another one")
    if kind == "unstarted":  # replaced like a run (in a staging folder), but no recorded data is lost: no --overwrite
        return "replace"
    if kind == "run" and not overwrite:
        raise RunStoreError(f"{folder}: already holds a run ({', '.join(n for n in names if n in RUN_MARKERS)}); "
                            "choose another folder or overwrite it")
    return "replace" if kind == "run" else "new"


def staging_folder(target: Path) -> Path:
    """A new hidden folder beside `target`, locked by this process, to build the replacing run in."""
    clean_stale(target)
    staging = target.parent / f".{target.name}{STAGING}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        staging.mkdir()
    except OSError as exc:
        raise RunStoreError(f"{target.parent}: cannot replace {target.name} here ({exc.strerror or exc}); the "
                            "folder that holds the run must be writable") from None
    acquire(staging, store=True)
    return staging


def clean_stale(target: Path) -> None:
    """Remove what a killed replacement left beside `target` (folders whose writer is gone)."""
    try:
        entries = [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}{STAGING}")]
    except OSError:
        return
    for path in entries:
        if path.is_dir() and not path.is_symlink() and not is_locked_by_another_process(path):
            shutil.rmtree(path, ignore_errors=True)


def swap_in(staging: Path, target: Path) -> None:
    """Make `staging` the run at `target` in one step; the run that was there ends up at `staging` and is
    removed. This process holds both folders' locks throughout, so no other writer can slip in between."""
    if not _exchange(staging, target):
        old = target.parent / f".{target.name}{STAGING}old-{secrets.token_hex(4)}"
        try:
            os.rename(target, old)
            os.rename(staging, target)
        except OSError as exc:
            raise RunStoreError(f"{target}: cannot replace the run ({exc.strerror or exc})") from None
        staging = old
    old_lock, new_lock = _held.pop(_key(target)), _held.pop(_key(staging))
    new_lock.count, new_lock.store = old_lock.count, True  # whoever held the run directory holds the new lock
    new_lock.created = False
    _held[_key(target)] = new_lock
    old_lock.handle.close()
    shutil.rmtree(staging, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """renameat2(a, b, RENAME_EXCHANGE): both folders swap names atomically. False where not supported."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2  # the C library this Python runs on
    except (OSError, AttributeError, TypeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    release(staging, store=True)
