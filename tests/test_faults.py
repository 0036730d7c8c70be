"""Faults: a disk that fills up at any moment, processes killed at any moment, two writers at once.

Whatever happens, the promise is the same: one line naming the file, no traceback, every completed epoch readable,
no temporary file left, and a run directory whose files belong to one run. The in-process cases inject ENOSPC
(tests/faults.py); the CLI cases use a real, small tmpfs when the machine allows one (`unshare`), and real
`kill -9`."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.faults import full_disk, tmpfs_available, tmpfs_command
from tests.test_runstore import add, check_prefix, new_history
from vg_studio.train.runstore import RunStore, RunStoreError, open_run

ROOT = Path(__file__).resolve().parents[1]


def _leftovers(run: Path) -> list:
    """Temporary or private files a finished (or failed) run must not leave behind."""
    return sorted(p.name for p in run.parent.rglob("*") if p.name.endswith(".tmp") or p.name == ".reserve"
                  or ".vgs-" in p.name)


def _write_until_full(run: Path, epochs: int = 4) -> tuple[int, OSError | None]:
    """A run's whole life through RunStore, as the trainer drives it: returns (epochs it saw completed, the
    error that ended it). After an error it does what the trainer does: the final write, then the report."""
    store, h, done = RunStore(run), new_history(), 0
    try:
        store.write_model_summary({"name": "faulty", "layers": []})
        for e in range(epochs):
            for s in range(4):
                add(h, e * 4 + s + 1, e)
                store.write_history(h)
            h.add_epoch(e, {"loss": 1.0 / (e + 1), "accuracy": 0.5 + e / 10, "val_loss": 2.0 / (e + 1),
                            "val_accuracy": 0.4 + e / 10})
            store.write_history(h)
            done += 1
        h.status = "completed"
        store.write_history(h)
        store.write_report({"status": "completed", "epochs_completed": done})
        return done, None
    except OSError as exc:
        h.status = "failed"
        try:
            store.write_history(h)
        except OSError:
            pass
        try:
            store.write_report({"status": "failed", "message": str(exc)})
        except OSError:
            pass
        return done, exc
    finally:
        store.close()


def test_the_disk_filling_at_every_moment_keeps_what_was_completed(tmp_path, monkeypatch):
    """Every byte budget from 0 to a whole run (in steps): the error names a file of the run, the epochs that
    completed before it are readable, the report says failed when there was room for it, nothing is left over."""
    probe = tmp_path / "probe"
    _write_until_full(probe)
    whole = sum(p.stat().st_size for p in probe.iterdir()) + RunStore.RESERVE_BYTES[0]
    budgets = sorted({0, 1, 100, *np.linspace(200, whole * 3, 24).astype(int).tolist()})
    outcomes = set()
    for budget in budgets:
        run = tmp_path / f"run-{budget}"
        with monkeypatch.context() as m:
            full_disk(m, run, budget)
            done, error = _write_until_full(run)
        outcomes.add(error is None)
        assert _leftovers(run) == [], budget
        if error is None:
            assert open_run(run).status == "completed"
            continue
        assert error.errno == errno.ENOSPC and error.filename and str(run) in error.filename, error
        if not (run / "history.h5").exists():  # full before the first history write: nothing to keep
            assert done == 0
            continue
        loaded = open_run(run)
        check_prefix(loaded.history)
        assert loaded.history.num_epochs >= done  # every completed epoch is there
        assert loaded.status in ("failed", "running")  # "running": not even the reserve could hold a report
    assert outcomes == {True, False}  # the sweep did reach both a failure and a complete run


def test_a_report_fits_even_when_the_history_filled_the_disk(tmp_path, monkeypatch):
    run = tmp_path / "run"
    probe = tmp_path / "probe"
    _write_until_full(probe, epochs=1)
    one_epoch = sum(p.stat().st_size for p in probe.iterdir() if p.name != "report.json")
    with monkeypatch.context() as m:
        full_disk(m, run, one_epoch + 64 * 1024 + 500)  # the reserve, one epoch, and a little of the second
        done, error = _write_until_full(run)
    assert error is not None and done >= 1
    loaded = open_run(run)
    assert loaded.status == "failed" and "No space left" in loaded.report["message"]
    assert loaded.history.num_epochs >= 1


# ---- the command line on a real, small disk -------------------------------------------------------------------
needs_tmpfs = pytest.mark.skipif(not tmpfs_available(), reason="no unprivileged tmpfs (unshare) here")
TRAIN = ["train", "--dataset", "digits", "--limit", "400", "--layers", "2", "--units", "16", "--epochs", "5",
         "--record-every", "1"]


def _cli_on_small_disk(tmp_path: Path, free: int) -> tuple[subprocess.CompletedProcess, Path]:
    disk, keep = tmp_path / "disk", tmp_path / "after"
    result = tmpfs_command(disk, 2 * 2**20, [sys.executable, "-m", "vg_studio.cli", *TRAIN, "--out",
                                             str(disk / "run ü")], keep=keep, fill=2 * 2**20 - free,
                           capture_output=True, text=True, timeout=600,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                                "CUDA_VISIBLE_DEVICES": ""})
    return result, keep / "run ü"


def _assert_clean_failure(result: subprocess.CompletedProcess, run: Path, disk_name: str) -> None:
    assert result.returncode != 0 and result.returncode < 128, result.stderr[-2000:]  # not killed by a signal
    assert "Traceback" not in result.stderr and "Segmentation" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("vg-studio: error:")]
    assert len(errors) == 1 and disk_name in errors[0] and "No space left" in errors[0], result.stderr[-2000:]


@needs_tmpfs
@pytest.mark.slow  # ~12 s each on a quiet machine (TensorFlow's import); the in-process sweep above runs in CI
@pytest.mark.parametrize("free", [0, 60_000])
def test_cli_on_a_full_disk_fails_in_one_line_naming_the_file(free, tmp_path):
    result, run = _cli_on_small_disk(tmp_path, free)
    _assert_clean_failure(result, run, "disk/run ü/")
    assert _leftovers(tmp_path / "after") == []
    if free and (run / "history.h5").exists():
        loaded = open_run(run)
        assert loaded.status == "failed" and loaded.history.epochs.get("epoch", []) == \
            list(range(loaded.history.num_epochs))


@needs_tmpfs
@pytest.mark.slow
@pytest.mark.parametrize("free", [3_000, 20_000, 100_000, 180_000, 260_000])
def test_cli_on_a_disk_that_fills_at_other_moments(free, tmp_path):
    result, run = _cli_on_small_disk(tmp_path, free)
    if result.returncode == 0:  # enough room after all: a complete run
        assert open_run(run).status == "completed"
        return
    _assert_clean_failure(result, run, "disk/run ü/")
    assert _leftovers(tmp_path / "after") == []
    if (run / "history.h5").exists() or (run / "history.log").exists():
        loaded = open_run(run)
        assert loaded.history.epochs.get("epoch", []) == list(range(loaded.history.num_epochs))


# ---- kill -9 and two writers through the command line ------------------------------------------------------------
def _train(out: Path, epochs: int = 500) -> subprocess.Popen:
    argv = [sys.executable, "-m", "vg_studio.cli", *TRAIN[:-4], "--epochs", str(epochs), "--record-every", "1",
            "--out", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                                 "CUDA_VISIBLE_DEVICES": ""})


@pytest.mark.slow
def test_cli_killed_at_random_moments_keeps_every_completed_epoch(tmp_path):
    rng = np.random.default_rng(1)
    for trial in range(3):
        out = tmp_path / f"run{trial}"
        proc = _train(out)
        printed = []
        for line in proc.stdout:
            if line.startswith("epoch "):
                printed.append(line)
                if len(printed) == 1:
                    time.sleep(float(rng.uniform(0, 1.5)))
                    break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        loaded = open_run(out)
        assert loaded.history.epochs["epoch"] == list(range(loaded.history.num_epochs))
        assert loaded.history.num_epochs >= len(printed)
        assert loaded.history.stat("grad_mean_abs").shape[0] == loaded.history.num_records


@pytest.mark.slow
def test_two_cli_writers_into_one_folder(tmp_path):
    out = tmp_path / "run"
    first = _train(out, epochs=3)
    while not (out / ".lock").exists() and first.poll() is None:
        time.sleep(0.05)
    second = _train(out, epochs=3)
    _, err2 = second.communicate(timeout=600)
    _, err1 = first.communicate(timeout=600)
    assert first.returncode == 0, err1[-2000:]
    assert second.returncode == 2 and "Traceback" not in err2
    assert [line for line in err2.splitlines() if line.startswith("vg-studio: error:")] and \
        ("another run is writing" in err2 or "already holds a run" in err2)
    assert open_run(out).status == "completed"


def test_a_run_dir_that_is_a_file_or_empty_name_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    for bad, needle in ((tmp_path / "file", "cannot write the run directory"), ("", "empty path"),
                        (" ", "empty path")):
        with pytest.raises(RunStoreError, match=needle):
            RunStore(bad)
    assert (tmp_path / "file").read_text() == "x"
