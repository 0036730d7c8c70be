"""The run directory's storage: appends cost O(new data), a kill at any moment keeps every completed epoch, a
reader sees a consistent prefix while another process writes, and every file is read strictly.

Values are checked against what the test put in (a deterministic function of step and layer), never against the
store's own output."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import allocates_under
from vg_studio.history import History
from vg_studio.train.history_log import HEADER_SIZE
from vg_studio.train.runstore import RunFollower, RunStore, RunStoreError, open_run

ROOT = Path(__file__).resolve().parents[1]
EDGES = np.linspace(-12, 2, 29)


def grad(step: int, layers: int) -> np.ndarray:
    """The value a record at `step` carries: known in advance, so a reader can check every number it gets."""
    return (step + 1) * 10.0 ** -np.arange(layers, dtype=np.float64)


def hist(step: int, layers: int) -> np.ndarray:
    rows = np.zeros((layers, 28), dtype=np.float32)
    rows[np.arange(layers), (step + np.arange(layers)) % 28] = 1.0
    return rows


def new_history(layers: int = 3) -> History:
    names = [f"hidden_{i + 1}" for i in range(layers - 1)] + ["output"]
    h = History(names, ["sigmoid"] * (layers - 1) + ["softmax"], 1, layer_kinds=["dense"] * layers,
                layer_units=[8] * (layers - 1) + [10])
    h.attrs.update(hist_edges=EDGES, epochs=3, steps_per_epoch=4)
    return h


def add(h: History, step: int, epoch: int) -> None:
    layers = len(h.layer_names)
    h.add_record(step, epoch, 1.0 / step, {"grad_mean_abs": grad(step, layers), "grad_log10_hist": hist(step, layers)},
                 {"sdagd_mu": step / 100}, metrics={"accuracy": step / 1000})


def write_run(run_dir: Path, epochs: int = 3, steps: int = 4, finish: bool = True, layers: int = 3) -> History:
    store, h = RunStore(run_dir), new_history(layers)
    for e in range(epochs):
        for s in range(steps):
            add(h, e * steps + s + 1, e)
            store.write_history(h)
        h.add_epoch(e, {"loss": 1.0 / (e + 1), "accuracy": 0.5 + e / 10, "val_loss": 2.0 / (e + 1),
                        "val_accuracy": 0.4 + e / 10})
        store.write_history(h)
    if finish:
        h.status = "completed"
        store.write_history(h)
        store.write_report({"name": "t", "status": "completed", "message": "done", "epochs_completed": epochs})
    return h


# ---- history.log as docs/file-formats.md lays it out (written here from the document, not with the writer's code)
LOG_HEAD = struct.Struct("<4sIII")  # mark, payload length, sequence number, CRC-32


def log_frame(log_id: bytes, seq: int, payload: bytes, mark: bytes = b"\xf5VGF") -> bytes:
    crc = zlib.crc32(log_id + struct.pack("<II", len(payload), seq) + payload)
    return LOG_HEAD.pack(mark, len(payload), seq, crc) + payload


def log_frame_spans(log: bytes) -> list[tuple[int, int]]:
    """(start, end) of each frame of an intact log."""
    spans, offset = [], 24
    while offset < len(log):
        _, length, _, _ = LOG_HEAD.unpack_from(log, offset)
        spans.append((offset, offset + LOG_HEAD.size + length))
        offset = spans[-1][1]
    return spans


def append_log_frame(log: Path, meta: dict, arrays: dict | None = None) -> None:
    """Append a frame with a right checksum and the next sequence number (what a writer would append)."""
    from vg_studio.train.history_log import encode_payload

    data = log.read_bytes()
    log.write_bytes(data + log_frame(data[8:24], len(log_frame_spans(data)), encode_payload(meta, arrays)))


def check_prefix(h: History, layers: int = 3) -> None:
    """What a reader got is a consistent prefix of what write_run writes: records 1..n in order, every value the
    one written, and the completed epochs 0..k-1 each after all of its records."""
    n = h.num_records
    assert h.steps == list(range(1, n + 1))
    g = h.stat("grad_mean_abs")
    assert g.shape == (n, layers)
    for r, step in enumerate(h.steps):
        np.testing.assert_array_equal(g[r], grad(step, layers))
        np.testing.assert_array_equal(h.stat("grad_log10_hist")[r], hist(step, layers))
        assert h.optimizer["sdagd_mu"][r] == step / 100 and h.record_metrics["accuracy"][r] == step / 1000
    epochs = h.epochs.get("epoch", [])
    assert epochs == list(range(len(epochs)))
    assert all(h.record_epochs.count(e) == 4 for e in epochs)  # an epoch is complete with its records
    assert h.epochs.get("val_accuracy", []) == pytest.approx([0.4 + e / 10 for e in epochs])


# ---- round trip -------------------------------------------------------------------------------------------
def test_a_run_reads_back_while_running_and_after_it_ended(tmp_path):
    run = tmp_path / "run ü"
    h = write_run(run, finish=False)
    loaded = open_run(run)  # mid-run: history.h5 (header) + history.log (the records)
    assert loaded.status == "running" and (run / "history.log").exists()
    check_prefix(loaded.history)
    assert loaded.history.num_records == 12 and loaded.history.num_epochs == 3
    with h5py.File(run / "history.h5") as f:  # h5py alone: a valid file that says where the records are
        assert f.attrs["status"] == "running" and f["probes/step"].shape == (0,)
    h.status = "completed"
    RunStore  # the same store finishes the run in write_run(finish=True); here: a fresh directory
    run2 = tmp_path / "run2"
    write_run(run2)
    assert sorted(p.name for p in run2.iterdir()) == ["history.h5", "report.json"]  # the log was folded in
    done = open_run(run2)
    check_prefix(done.history)
    assert done.status == "completed" and done.history.num_records == 12
    assert done.history.layer_kinds == ["dense"] * 3 and done.history.layer_units == [8, 8, 10]
    np.testing.assert_array_equal(done.history.attrs["hist_edges"], EDGES)
    with h5py.File(run2 / "history.h5") as f:  # and with h5py alone, the documented layout
        assert f["probes/grad_log10_hist"].shape == (12, 3, 28) and list(f["epochs/val_loss"][()]) == \
            pytest.approx([2.0, 1.0, 2 / 3])
        assert [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]] == \
            ["hidden_1", "hidden_2", "output"]


def test_stat_views_cost_nothing_and_cannot_change_the_history():
    h = new_history()
    for step in range(1, 40):
        add(h, step, 0)
    a, b = h.stat("grad_mean_abs"), h.stat("grad_mean_abs")
    assert np.shares_memory(a, b) and a.shape == (39, 3)  # a view of one buffer, not a copy per call
    with pytest.raises(ValueError):
        a[0, 0] = 5.0


def test_statistics_appearing_late_or_missing_read_nan():
    h = History(["a", "b"], ["relu", "relu"])
    h.add_record(1, 0, 1.0, {"x": np.ones(2)}, {})
    h.add_record(2, 0, 1.0, {"y": np.full((2, 3), 0.5)}, {"lr": 0.1})
    assert np.isnan(h.stat("x")[1]).all() and np.isnan(h.stat("y")[0]).all() and h.stat("y").shape == (2, 2, 3)
    assert np.isnan(h.optimizer["lr"][0]) and h.optimizer["lr"][1] == 0.1
    for bad in ({"x": np.ones(3)}, {"x": np.ones((2, 3))}, {"step": np.ones(2)}, {"x": np.array(["a", "b"])}):
        with pytest.raises(ValueError):
            h.add_record(3, 0, 1.0, bad, {})
    assert h.num_records == 2  # a refused record changes nothing


def test_csv_has_the_epoch_metrics_and_every_layer():
    h = new_history()
    for step in range(1, 5):
        add(h, step, 0)
    h.add_epoch(0, {"loss": 0.9, "accuracy": 0.61, "val_loss": 1.2, "val_accuracy": 0.55})
    h.layer_names[0] = "=cmd|' /C calc'!A0"  # a layer name is the user's text, not a spreadsheet formula
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(h.to_csv())))
    epoch_rows = [r for r in rows if r["row"] == "epoch"]
    assert len(epoch_rows) == 1 and float(epoch_rows[0]["val_accuracy"]) == 0.55
    assert float(epoch_rows[0]["accuracy"]) == 0.61 and float(epoch_rows[0]["val_loss"]) == 1.2
    records = [r for r in rows if r["row"] == "record"]
    assert [int(r["step"]) for r in records] == [1, 2, 3, 4]
    assert float(records[2]["grad_mean_abs[output]"]) == grad(3, 3)[2]
    assert not any(name.startswith("=") for name in rows[0])


# ---- cost of an append ---------------------------------------------------------------------------------------
def _bytes_per_append(records: int, layers: int) -> tuple[int, int]:
    """(bytes the last append wrote to the log, bytes written to history.h5 during the run)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        store, h = RunStore(run), new_history(layers)
        add(h, 1, 0)
        store.write_history(h)
        h5_before = os.stat(run / "history.h5")
        for step in range(2, records + 1):
            add(h, step, 0)
            store.write_history(h)
        before = os.path.getsize(run / "history.log")
        add(h, records + 1, 0)
        store.write_history(h)
        h5_after = os.stat(run / "history.h5")
        assert (h5_after.st_ino, h5_after.st_mtime_ns) == (h5_before.st_ino, h5_before.st_mtime_ns)
        return os.path.getsize(run / "history.log") - before, h5_after.st_size


def test_an_append_writes_only_the_new_record_however_long_the_run():
    small, _ = _bytes_per_append(records=10, layers=20)
    long, _ = _bytes_per_append(records=2000, layers=20)
    assert abs(long - small) <= 8  # flat in the number of records (the step's digits aside): nothing rewritten
    wide, _ = _bytes_per_append(records=10, layers=200)
    # linear in the layers: (8 + 28 * 4) bytes per layer of grad_mean_abs + its histogram, plus a fixed frame
    assert abs((wide - small) - 180 * (8 + 28 * 4)) <= 8


# ---- kill -9 -------------------------------------------------------------------------------------------------
WRITER = """
import sys, time, numpy as np
sys.path.insert(0, {root!r})
from tests.test_runstore import new_history, add
from vg_studio.train.runstore import RunStore
store, h = RunStore(sys.argv[1]), new_history()
epochs, pause = int(sys.argv[2]), float(sys.argv[3])
step = 0
for e in range(epochs):
    for s in range(4):
        step += 1
        add(h, step, e)
        store.write_history(h)
        time.sleep(pause)  # a run that grows while it is read, not one that is over at once
    h.add_epoch(e, {{"loss": 1.0 / (e + 1), "accuracy": 0.5 + e / 10, "val_loss": 2.0 / (e + 1),
                    "val_accuracy": 0.4 + e / 10}})
    store.write_history(h)
    print(e, flush=True)
h.status = "completed"
store.write_history(h)
store.write_report({{"status": "completed", "message": "done"}})
"""


def _start_writer(run: Path, epochs: int = 10**6, pause: float = 0.002) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT)), str(run), str(epochs), str(pause)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_kill_9_at_random_moments_keeps_every_completed_epoch(tmp_path):
    rng = np.random.default_rng(0)
    for trial in range(2):
        run = tmp_path / f"run{trial}"
        proc = _start_writer(run)
        first = proc.stdout.readline()  # the writer is past its start-up
        assert first.strip() == "0"
        time.sleep(float(rng.uniform(0.0, 0.4)))
        proc.send_signal(signal.SIGKILL)
        reported = [first] + proc.stdout.read().split()
        proc.wait()
        loaded = open_run(run)
        check_prefix(loaded.history)
        assert loaded.history.num_epochs >= len(reported)  # every epoch the writer said was done is there


def test_a_torn_last_write_is_ignored_byte_by_byte(tmp_path):
    run = tmp_path / "run"
    write_run(run, epochs=1, steps=2, finish=False)
    log = (run / "history.log").read_bytes()
    last_start = log_frame_spans(log)[-1][0]
    for cut in range(last_start, len(log), 7):  # every 7th byte of the last frame (the epoch)
        (run / "history.log").write_bytes(log[:cut])
        loaded = open_run(run)
        assert loaded.history.num_records == 2 and loaded.history.num_epochs == 0
        assert cut == last_start or loaded.notes  # the reader says a write was cut off
    flipped = bytearray(log)
    flipped[-3] ^= 0xFF  # a damaged last frame: its checksum fails, the prefix before it stands
    (run / "history.log").write_bytes(bytes(flipped))
    assert open_run(run).history.num_epochs == 0


# ---- a power cut: zeros, damage in the middle, the first format ----------------------------------------------
def _frame_contents(log: bytes) -> list[tuple]:
    """What each frame of an intact log holds — ("record", step) / ("epoch", n) / ("start",) / ("attrs",) — read
    with json from the documented payload layout."""
    out = []
    for a, b in log_frame_spans(log):
        payload = log[a + LOG_HEAD.size:b]
        meta = json.loads(payload[4:4 + int.from_bytes(payload[:4], "little")])
        out.append((meta["t"], meta.get("step", meta.get("epoch"))))
    return out


def _expect(history: History, contents: list[tuple]) -> None:
    """`history` holds exactly the records and epochs of `contents`, with the values written for them."""
    steps = [n for kind, n in contents if kind == "record"]
    assert history.steps == steps
    assert history.epochs.get("epoch", []) == [n for kind, n in contents if kind == "epoch"]
    for r, step in enumerate(steps):
        np.testing.assert_array_equal(history.stat("grad_mean_abs")[r], grad(step, 3))
        assert history.optimizer["sdagd_mu"][r] == step / 100


@pytest.mark.parametrize("tail", [1, 15, 16, 4096, 70_000])
def test_zeros_after_the_last_write_keep_every_frame_and_say_so(tail, tmp_path):
    """What a power cut can leave after the last fsync: a block of zeros (a zero frame head is never valid)."""
    run = tmp_path / "run"
    write_run(run, finish=False)
    log = (run / "history.log").read_bytes()
    (run / "history.log").write_bytes(log + bytes(tail))
    loaded = open_run(run)
    _expect(loaded.history, _frame_contents(log))
    assert loaded.history.num_epochs == 3
    assert loaded.notes == [f"history.log: the last {tail:,} bytes are zeros (what a power cut can leave); ignored"]


DAMAGE = {
    "an absurd length": lambda log, a, b: log[:a + 4] + (0xFFFFFFF0).to_bytes(4, "little") + log[a + 8:],
    "a length one too long": lambda log, a, b: log[:a + 4] + (b - a - 15).to_bytes(4, "little") + log[a + 8:],
    "a zeroed head": lambda log, a, b: log[:a] + bytes(16) + log[a + 16:],
    "4 KiB of zeros over it": lambda log, a, b: log[:a] + bytes(4096) + log[a + 4096:],
    "a block of another file": lambda log, a, b: log[:a] + os.urandom(b - a) + log[b:],
    "a frame of another log": lambda log, a, b: log[:a] + log_frame(b"\x07" * 16, 5, log[a + 16:b]) + log[b:],
    "a frame repeated": lambda log, a, b: log[:b] + log[a:b] + log[b:],
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damage_in_the_middle_costs_only_the_frames_it_touches(case, tmp_path):
    run = tmp_path / "run"
    write_run(run, epochs=6, finish=False)
    log = (run / "history.log").read_bytes()
    spans, contents = log_frame_spans(log), _frame_contents(log)
    rng = np.random.default_rng(len(case))
    middle = [i for i, (a, b) in enumerate(spans) if i >= 2 and a + 4096 < spans[-1][0]]  # after start and attrs
    for index in rng.choice(middle, 3, replace=False):
        a, b = spans[index]
        damaged = DAMAGE[case](log, a, b)
        (run / "history.log").write_bytes(damaged)
        loaded = open_run(run)
        lost = [i for i, (c, d) in enumerate(spans) if c < a + 4096 and d > a] if "4 KiB" in case else \
            [] if case == "a frame repeated" else [index]
        _expect(loaded.history, [c for i, c in enumerate(contents) if i not in lost])
        if lost:
            assert len(loaded.notes) == 1 and loaded.notes[0].startswith("history.log: ") and \
                "damaged bytes skipped" in loaded.notes[0] and "\n" not in loaded.notes[0], loaded.notes
            assert f"{len(lost)} frame{'s' * (len(lost) > 1)} lost" in loaded.notes[0]


def test_one_flipped_bit_anywhere_costs_one_frame(tmp_path):
    run = tmp_path / "run"
    write_run(run, epochs=2, finish=False)
    log = (run / "history.log").read_bytes()
    spans, contents = log_frame_spans(log), _frame_contents(log)
    rng = np.random.default_rng(3)
    for index in range(2, len(spans) - 1):
        a, b = spans[index]
        bit = int(rng.integers(a * 8, b * 8))
        damaged = bytearray(log)
        damaged[bit // 8] ^= 1 << (bit % 8)
        (run / "history.log").write_bytes(bytes(damaged))
        loaded = open_run(run)
        _expect(loaded.history, contents[:index] + contents[index + 1:])
        assert len(loaded.notes) == 1, (index, bit, loaded.notes)


def test_a_follower_reads_past_damage_and_says_so(tmp_path):
    run = tmp_path / "run"
    write_run(run, finish=False)
    log = (run / "history.log").read_bytes()
    a, b = log_frame_spans(log)[7]
    (run / "history.log").write_bytes(log[:a] + bytes(b - a) + log[b:])
    follower = RunFollower(run)
    events = follower.poll()
    steps = [e.step for e in events if type(e).__name__ == "ProbeRecord"]
    assert steps == [n for kind, n in _frame_contents(log[:a] + log[b:]) if kind == "record"] and len(steps) == 11
    assert [e.epoch for e in events if type(e).__name__ == "EpochEnd"] == [0, 1, 2]
    assert len(follower.notes) == 1 and "1 frame lost" in follower.notes[0]
    follower.close()


def test_what_was_skipped_is_still_said_once_a_dead_writers_run_is_ended(tmp_path):
    from vg_studio.train.runstore import end_abandoned_run

    run = tmp_path / "run"
    write_run(run, finish=False)
    log = (run / "history.log").read_bytes()
    a, b = log_frame_spans(log)[4]
    (run / "history.log").write_bytes(log[:a + 20] + b"\xff" + log[a + 21:] + bytes(512))
    ended = end_abandoned_run(run, "failed")
    assert not (run / "history.log").exists() and ended.history.num_records == 11
    again = open_run(run)
    assert again.notes == ended.notes == again.report["notes"] and len(again.notes) == 2
    assert "1 frame lost" in again.notes[0] and "512 bytes are zeros" in again.notes[1]


def test_a_stretch_made_of_false_frame_marks_is_given_up_quickly(tmp_path):
    from vg_studio.train.history_log import SCAN_CANDIDATES

    run = tmp_path / "run"
    write_run(run, finish=False)
    log = (run / "history.log").read_bytes()
    a, _ = log_frame_spans(log)[6]
    fake = (b"\xf5VGF" + (60).to_bytes(4, "little") + bytes(8)) * (SCAN_CANDIDATES + 10)  # heads of no frame
    (run / "history.log").write_bytes(log[:a] + fake + log[a:])
    started = time.perf_counter()
    loaded = open_run(run)
    assert time.perf_counter() - started < 5
    _expect(loaded.history, _frame_contents(log)[:6])
    assert len(loaded.notes) == 1 and "false frame marks" in loaded.notes[0]


def test_a_log_of_the_first_format_still_reads_up_to_its_first_damage(tmp_path):
    """Frames [u32 length][u32 crc32(payload)] after the header "VGSLOG1\n" + id (docs/file-formats.md)."""
    run = tmp_path / "run"
    write_run(run, finish=False)
    log = (run / "history.log").read_bytes()
    payloads = [log[a + LOG_HEAD.size:b] for a, b in log_frame_spans(log)]
    old = b"VGSLOG1\n" + log[8:24] + b"".join(struct.pack("<II", len(p), zlib.crc32(p)) + p for p in payloads)
    (run / "history.log").write_bytes(old)
    loaded = open_run(run)
    _expect(loaded.history, _frame_contents(log))
    assert loaded.notes == []
    cut = 24 + sum(8 + len(p) for p in payloads[:9])
    (run / "history.log").write_bytes(old[:cut + 20] + b"\xff" + old[cut + 21:])
    _expect(open_run(run).history, _frame_contents(log)[:9])


# ---- a reader while another process writes -------------------------------------------------------------------
def test_readers_see_a_consistent_prefix_while_another_process_writes(tmp_path):
    run = tmp_path / "run"
    proc = _start_writer(run, epochs=12, pause=0.02)
    try:
        follower = RunFollower(run)
        followed = History(["hidden_1", "hidden_2", "output"], ["sigmoid", "sigmoid", "softmax"])
        deadline, reads, sizes = time.time() + 60, 0, set()
        while not follower.finished and time.time() < deadline:
            for event in follower.poll():  # the app's live view, rebuilt from the events alone
                kind = type(event).__name__
                if kind == "ProbeRecord":
                    followed.add_record(event.step, event.epoch, event.loss, event.stats, event.optimizer,
                                        metrics=getattr(event, "metrics", None) or {"accuracy": event.step / 1000})
                elif kind == "EpochEnd":
                    followed.add_epoch(event.epoch, event.logs)
            check_prefix(followed)
            if (run / "history.h5").exists():
                history = open_run(run).history  # a full read at a random moment: a prefix too
                check_prefix(history)
                reads, sizes = reads + 1, sizes | {history.num_records}
        assert follower.finished and followed.num_records == 48 and followed.num_epochs == 12
        assert reads >= 3 and len(sizes) >= 3  # the reads did happen while the run grew
    finally:
        proc.kill()
        proc.wait()


def test_a_follower_sees_the_end_of_a_run_and_a_finished_run_at_once(tmp_path):
    run = tmp_path / "run"
    follower = RunFollower(run)
    assert follower.poll() == []  # nothing there yet
    store, h = RunStore(run), new_history()
    add(h, 1, 0)
    store.write_history(h)
    kinds = [type(e).__name__ for e in follower.poll()]
    assert kinds == ["RunStarted", "ProbeRecord"]
    for step in range(2, 5):
        add(h, step, 0)
    h.add_epoch(0, {"loss": 1.0})
    h.status = "completed"
    store.write_history(h)  # folds the log into history.h5 and removes it
    store.write_report({"status": "completed", "message": "ok"})
    kinds = [type(e).__name__ for e in follower.poll()]
    assert kinds == ["ProbeRecord"] * 3 + ["EpochEnd", "RunFinished"] and follower.poll() == []
    events = RunFollower(run).poll()
    started = events[0]
    assert type(started).__name__ == "RunStarted" and started.layer_names == h.layer_names
    assert started.steps_per_epoch == 4 and started.layer_units == [8, 8, 10]
    assert [type(e).__name__ for e in events[1:]] == ["ProbeRecord"] * 4 + ["EpochEnd", "RunFinished"]
    np.testing.assert_array_equal(events[3].stats["grad_mean_abs"], grad(3, 3))


# ---- strict reading of files VG Studio did not write -------------------------------------------------------------
def _report_case(case: str):
    return {"a list": [1, 2], "no status": {"message": "x"}, "deeply nested": json.loads("[" * 900 + "]" * 900),
            "status a number": {"status": 3}, "findings not a list": {"status": "completed", "findings": {}},
            "finding not an object": {"status": "completed", "findings": [3]},
            "finding without kind": {"status": "completed", "findings": [{"severity": "warning"}]},
            "negative epochs": {"status": "completed", "epochs_completed": -1},
            "metric text": {"status": "completed", "test_metrics": {"accuracy": "high"}},
            "layers not names": {"status": "completed", "findings": [{"kind": "k", "severity": "s", "layers": [1]}]},
            # found by a corpus of careless and hostile files (session 2): each was "no problems found" before
            "unknown severity": {"status": "completed", "findings": [_finding(severity="apocalypse")]},
            "unknown kind": {"status": "completed", "findings": [_finding(kind="x" * 100)]},
            "fixes not ids": {"status": "completed", "findings": [_finding(fixes=[1, None])]},
            "fix without id": {"status": "completed", "findings": [_finding(fixes=[{"id": 3}])]},
            "negative step": {"status": "completed", "findings": [_finding(step=-5)]},
            "evidence nested": {"status": "completed", "findings": [_finding(evidence={"a": [1, 2]})]},
            "unknown status": {"status": "exploded"},
            "num_classes 10**12": {"status": "completed", "num_classes": 10**12},
            "classes not a list": {"status": "completed", "dataset": {"classes": "abc"}},
            "train count text": {"status": "completed", "dataset": {"train": "x"}},
            "ragged confusion": {"status": "completed", "test_metrics": {"confusion_matrix": [[1, 2], [3]]}},
            "negative counts": {"status": "completed", "test_metrics": {"confusion_matrix": [[-1, 2], [3, 4]]}},
            "accuracy 1e300": {"status": "completed", "test_metrics": {"accuracy": 1e300}},
            "steps true": {"status": "completed", "steps": True},
            }[case]


def _finding(**fields) -> dict:
    return {"kind": "vanishing_gradient", "severity": "warning", **fields}


REPORT_CASES = ["a list", "no status", "deeply nested", "status a number", "findings not a list",
                "finding not an object", "finding without kind", "negative epochs", "metric text", "layers not names",
                "unknown severity", "unknown kind", "fixes not ids", "fix without id", "negative step",
                "evidence nested", "unknown status", "num_classes 10**12", "classes not a list", "train count text",
                "ragged confusion", "negative counts", "accuracy 1e300", "steps true"]


@pytest.mark.parametrize("case", REPORT_CASES + ["100k deep", "huge integer", "binary", "a key twice", "a link to nothing",
                                  "a link to itself"])
def test_a_bad_report_is_one_line_naming_it(case, tmp_path):
    run = tmp_path / "run"
    write_run(run)
    text = {"100k deep": "[" * 100_000, "huge integer": '{"status": "completed", "steps": 1' + "0" * 5000 + "}",
            "binary": "\udcff", "a key twice": '{"status": "completed", "status": "failed"}'}.get(case)
    if case.startswith("a link"):  # was taken for "no report": a run that never ended
        (run / "report.json").unlink()
        (run / "report.json").symlink_to("/nonexistent/report.json" if case == "a link to nothing" else "report.json")
        text = ""
    path = run / "report.json"
    if text is None:
        path.write_text(json.dumps(_report_case(case)))
    elif text:
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(RunStoreError) as info:
        open_run(run)
    assert "report.json" in str(info.value) and "\n" not in str(info.value)


def test_a_report_from_python_json_with_nan_reads_as_null(tmp_path):
    run = tmp_path / "run"
    write_run(run)
    (run / "report.json").write_text('{"status": "completed", "wall_time_s": NaN}')
    assert open_run(run).report["wall_time_s"] is None


def _h5_case(path: Path, case: str) -> None:
    with h5py.File(path, "a") as f:
        if case == "lengths disagree":
            del f["probes/loss"]
            f["probes/loss"] = np.zeros(5)
        elif case == "text in a column":
            del f["epochs/loss"]
            f["epochs/loss"] = np.array([b"a", b"b", b"c"])
        elif case == "absurd shape":
            f["probes"].create_dataset("huge", shape=(10**12, 3), dtype="f8", chunks=(1, 3))
        elif case == "wrong stat shape":
            f["probes/extra"] = np.zeros((12, 2))
        elif case == "external link":
            f["probes/evil"] = h5py.ExternalLink("/etc/passwd", "/x")
        elif case == "soft link":
            f["optimizer/loop"] = h5py.SoftLink("/probes/step")
        elif case == "names not text":
            f.attrs["layer_names"] = np.arange(3)
        elif case == "activations disagree":
            f.attrs["activations"] = np.array(["relu"], dtype=h5py.string_dtype())
        elif case == "record_every text":
            f.attrs["record_every"] = "often"
        elif case == "epochs a dataset":
            del f["epochs"]
            f["epochs"] = np.zeros(3)
        elif case == "4-d array":
            f["probes/deep"] = np.zeros((12, 3, 1, 1))
        elif case == "step as float":
            del f["probes/step"]
            f["probes/step"] = np.arange(12, dtype=np.float64)
        elif case == "compound":
            f["optimizer/c"] = np.zeros(12, dtype=[("a", "f8"), ("b", "i4")])
        elif case == "external storage":
            (path.parent / "raw.bin").write_bytes(b"\0" * 96)
            f["optimizer"].create_dataset("ext", shape=(12,), dtype="f8", external=[(str(path.parent / "raw.bin"),
                                                                                      0, 96)])
        elif case == "no schema":
            del f.attrs["schema"]
        elif case == "future schema":
            f.attrs["schema"] = 99
        elif case == "layer_units wrong length":
            f.attrs["layer_units"] = np.arange(7)
        elif case == "layer names twice":
            f.attrs["layer_names"] = np.array(["a", "b", "a"], dtype=h5py.string_dtype())
        elif case == "names in 2-d":
            f.attrs["layer_names"] = np.array([["a", "b", "c"]], dtype=h5py.string_dtype())
        elif case == "layer_units fractions":
            f.attrs["layer_units"] = np.full(3, 2.5)
        elif case == "a complex attribute":
            f.attrs["epochs"] = np.complex128(1 + 2j)
        elif case == "run facts not counts":
            f.attrs["num_classes"] = -3
        elif case == "status unknown":
            f.attrs["status"] = 5
        elif case == "log_id a number":
            f.attrs["log_id"] = 5
        elif case == "log_bytes negative":
            f.attrs["log_bytes"] = -5
        elif case == "bin edges not increasing":
            f.attrs["hist_edges"] = EDGES[::-1]
        elif case == "bins and edges disagree":
            f.attrs["hist_edges"] = np.arange(3.0)
        elif case == "0 bins":
            del f["probes/grad_log10_hist"]
            f["probes/grad_log10_hist"] = np.zeros((12, 3, 0), np.float32)
        elif case == "steps go backwards":
            del f["probes/step"]
            f["probes/step"] = np.arange(12, 0, -1)
        elif case == "step beyond int64":
            del f["probes/step"]
            f["probes/step"] = np.full(12, 2**64 - 1, np.uint64)
        elif case == "an epoch twice":
            del f["epochs/epoch"]
            f["epochs/epoch"] = np.zeros(3, np.int32)
        elif case == "1,001 attributes":  # 20,000 took minutes to read (each read costs more the more there are)
            for i in range(1001):
                f.attrs[f"a{i}"] = i


H5_CASES = ["lengths disagree", "text in a column", "absurd shape", "wrong stat shape", "external link", "soft link",
            "names not text", "activations disagree", "record_every text", "epochs a dataset", "4-d array",
            "step as float", "compound", "external storage", "no schema", "future schema",
            "layer_units wrong length", "layer names twice", "names in 2-d", "layer_units fractions",
            "a complex attribute", "run facts not counts", "status unknown", "log_id a number", "log_bytes negative",
            "bin edges not increasing", "bins and edges disagree", "0 bins", "steps go backwards",
            "step beyond int64", "an epoch twice", "1,001 attributes"]


@pytest.mark.parametrize("case", H5_CASES)
def test_a_bad_history_h5_is_one_line_naming_it(case, tmp_path):
    run = tmp_path / "run"
    write_run(run)
    _h5_case(run / "history.h5", case)
    with allocates_under(64), pytest.raises(RunStoreError) as info:  # refused from the declared shapes
        open_run(run)
    assert "history.h5" in str(info.value) and "\n" not in str(info.value), str(info.value)


def _log_case(run: Path, case: str) -> None:
    log = run / "history.log"
    data = log.read_bytes()
    from vg_studio.train.history_log import encode_payload

    def raw(meta_text: bytes, tail: bytes = b"") -> None:  # a payload whose JSON the writer could not produce
        payload = len(meta_text).to_bytes(4, "little") + meta_text + tail
        log.write_bytes(data + log_frame(data[8:24], len(log_frame_spans(data)), payload))

    def first(meta: dict) -> None:  # a log whose first frame is `meta`, the others after it
        frames = [encode_payload(meta)] + [data[a + LOG_HEAD.size:b] for a, b in log_frame_spans(data)]
        log.write_bytes(data[:HEADER_SIZE] + b"".join(log_frame(data[8:24], i, p) for i, p in enumerate(frames)))

    if case == "not a log":
        log.write_bytes(b"PK\x03\x04 something else entirely")
    elif case == "another run's log":
        log.write_bytes(data[:8] + b"\x01" * 16 + data[24:])
    elif case == "array larger than its frame":  # declares 800 MB, holds 8 bytes: refused, nothing allocated
        raw(json.dumps({"t": "epoch", "epoch": 1, "keys": ["loss"], "arrays": [["values", "<f8", [10**8]]]}).encode(),
            bytes(8))
    elif case == "nested meta":
        raw(("[" * 5000 + "]" * 5000).encode())
    elif case == "record of the wrong width":
        append_log_frame(log, {"t": "record", "step": 99, "epoch": 3, "optimizer": [], "metrics": []},
                         {"s/grad_mean_abs": np.zeros(7), "scalars": np.zeros(1)})
    elif case == "unknown frame":
        append_log_frame(log, {"t": "exec", "code": "print(1)"})
    # well-formed frames with a right checksum and absurd content
    elif case == "a step going back":
        append_log_frame(log, {"t": "record", "step": 1, "epoch": 3, "optimizer": [], "metrics": []},
                         {"scalars": np.zeros(1)})
    elif case == "a step beyond int64":
        append_log_frame(log, {"t": "record", "step": 2**70, "epoch": 3, "optimizer": [], "metrics": []},
                         {"scalars": np.zeros(1)})
    elif case == "an epoch twice":
        append_log_frame(log, {"t": "epoch", "epoch": 0, "keys": ["loss"]}, {"values": np.zeros(1)})
    elif case == "a scalar named twice":
        append_log_frame(log, {"t": "record", "step": 99, "epoch": 3, "optimizer": ["a"], "metrics": ["a"]},
                         {"scalars": np.zeros(3)})
    elif case == "layer kinds of the wrong length":
        append_log_frame(log, {"t": "attrs", "texts": {"layer_kinds": ["dense"]}})
    elif case == "a start recording every 0 steps":
        first({"t": "start", "layer_names": ["hidden_1", "hidden_2", "output"], "activations": ["", "", ""],
               "record_every": 0})
    elif case == "a start with layers twice":
        log.write_bytes(data[:HEADER_SIZE] + log_frame(data[8:24], 0, encode_payload(
            {"t": "start", "layer_names": ["a", "a"], "activations": ["", ""], "record_every": 1})))


@pytest.mark.parametrize("case", ["not a log", "another run's log", "array larger than its frame", "nested meta",
                                  "record of the wrong width", "unknown frame", "a step going back",
                                  "a step beyond int64", "an epoch twice", "a scalar named twice",
                                  "layer kinds of the wrong length", "a start with layers twice",
                                  "a start recording every 0 steps"])
def test_a_bad_history_log_is_one_line_naming_it(case, tmp_path):
    run = tmp_path / "run"
    write_run(run, finish=False)
    if case == "a start with layers twice":
        (run / "history.h5").unlink()  # a run killed before its history.h5 header: the log alone
    _log_case(run, case)
    with pytest.raises(RunStoreError) as info:
        open_run(run)
    assert "history.log" in str(info.value) and "\n" not in str(info.value), str(info.value)


@pytest.mark.timeout(120)  # opened for reading, a FIFO would wait for a writer for ever
@pytest.mark.parametrize("name", ["history.h5", "report.json", "spec.json", "history.log"])
def test_a_fifo_in_a_run_directory_is_refused_without_blocking(name, tmp_path):
    run = tmp_path / "run"
    write_run(run, finish=name != "history.log")
    (run / name).unlink(missing_ok=True)
    os.mkfifo(run / name)
    with pytest.raises(RunStoreError, match="not a regular file"):
        open_run(run)


def test_the_old_schema_1_files_still_read(tmp_path):
    run = tmp_path / "old"
    run.mkdir()
    with h5py.File(run / "history.h5", "w") as f:  # as VG Studio 0.x wrote them
        f.attrs.update(schema=1, status="completed", record_every=1)
        f.attrs["layer_names"] = np.array(["hidden_1", "output"], dtype=h5py.string_dtype())
        f.attrs["activations"] = np.array(["relu", "softmax"], dtype=h5py.string_dtype())
        f["epochs/epoch"], f["epochs/loss"] = np.arange(2, dtype=np.int32), np.array([1.0, 0.5])
        f["probes/step"], f["probes/epoch"] = np.array([1, 2]), np.array([0, 1], dtype=np.int32)
        f["probes/loss"], f["probes/grad_mean_abs"] = np.array([1.0, 0.5]), np.array([[1e-3, 1e-1], [2e-3, 2e-1]])
        f.create_group("optimizer")
    history = open_run(run).history
    assert history.epochs["loss"] == [1.0, 0.5] and history.stat("grad_mean_abs")[1, 0] == 2e-3


# ---- one run per directory: locks, refusals, atomic replacement -------------------------------------------------
def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


def _siblings(folder: Path) -> list:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith("."))


def test_a_second_writer_is_refused_and_a_run_is_never_overwritten_by_accident(tmp_path):
    run = tmp_path / "run"
    store = RunStore(run)
    with pytest.raises(RunStoreError, match="another run is writing"):
        RunStore(run)  # in this process
    code = f"from vg_studio.train.runstore import RunStore; RunStore({str(run)!r})"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert other.returncode != 0 and "another run is writing" in other.stderr  # in another process
    store.close()
    write_run(tmp_path / "done")
    before = _snapshot(tmp_path / "done")
    with pytest.raises(RunStoreError, match=r"already holds a run \(history.h5, report.json\)"):
        RunStore(tmp_path / "done")
    assert _snapshot(tmp_path / "done") == before


@pytest.mark.parametrize("files", [{"spec.json": b'{"name": "mine"}'}, {"notes.txt": b"x"},
                                   {"history.h5": b"x", "loss.png": b"png"}])
def test_a_folder_with_the_users_files_is_refused_untouched(files, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    for overwrite in (False, True):
        with pytest.raises(RunStoreError, match="not part of a VG Studio run"):
            RunStore(folder, overwrite=overwrite)
    assert _snapshot(folder) == files and _siblings(folder) == [] and not (folder / ".lock").exists()


def test_a_monitor_run_that_crashed_before_its_first_record_is_replaced_without_overwrite(tmp_path):
    """GradientMonitor writes model.json first; a crash right after leaves only that file. The next run goes there
    (a user's own model.json, without our format, is still refused: test above)."""
    folder = tmp_path / "crashed"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"format": "vg_studio.model_summary", "layers": []}))
    store = RunStore(folder)
    store.spec_path.write_text("{}")
    history = new_history()
    add(history, 1, 0)
    store.write_history(history)
    history.status = "completed"
    store.write_history(history)
    store.write_report({"status": "completed"})
    assert sorted(p.name for p in folder.iterdir()) == ["history.h5", "report.json", "spec.json"]
    assert _siblings(folder) == []


@pytest.mark.parametrize("text", ['{"format": "keras"}', "not json", '["vg_studio.model_summary"]'])
def test_a_model_json_that_is_not_ours_is_refused_untouched(text, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "model.json").write_text(text)
    with pytest.raises(RunStoreError, match=r"not part of a VG Studio run \(model.json\)"):
        RunStore(folder)
    assert (folder / "model.json").read_text() == text and sorted(p.name for p in folder.iterdir()) == ["model.json"]


def test_an_overwrite_that_fails_before_its_first_record_leaves_the_old_run(tmp_path):
    run = tmp_path / "run"
    write_run(run)
    before = _snapshot(run)
    store = RunStore(run, overwrite=True)
    (store.spec_path).write_text("{}")  # what the trainer writes first
    store.write_report({"status": "failed", "message": "data.dataset: file not found"})
    assert _snapshot(run) == before and _siblings(run) == []  # old run intact, nothing left beside it


def test_an_overwrite_replaces_the_whole_run_at_its_first_record(tmp_path):
    run = tmp_path / "run"
    write_run(run, epochs=2)
    (run / "model.keras").write_bytes(b"the old model")
    old_report = (run / "report.json").read_bytes()
    store, h = RunStore(run, overwrite=True), new_history()
    store.write_model_summary({"name": "new", "layers": []})
    assert (run / "report.json").read_bytes() == old_report  # nothing changes until the new run starts
    add(h, 1, 0)
    store.write_history(h)
    names = sorted(p.name for p in run.iterdir() if not p.name.startswith("."))
    assert names == ["history.h5", "history.log", "model.json"]  # the old model and report are gone at once
    assert open_run(run).history.num_records == 1
    h.status = "completed"
    store.write_history(h)
    store.write_report({"status": "completed"})
    assert open_run(run).model_summary["name"] == "new" and _siblings(run) == []


def test_a_replacement_killed_before_it_started_leaves_the_old_run(tmp_path):
    run = tmp_path / "run"
    write_run(run)
    before = _snapshot(run)
    code = (f"import os; from vg_studio.train.runstore import RunStore; s = RunStore({str(run)!r}, overwrite=True);"
            "open(s.spec_path, 'w').write('{}'); os.kill(os.getpid(), 9)")
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert _snapshot(run) == before and len(_siblings(run)) == 1  # its half-built replacement is hidden beside
    write_run(tmp_path / "other")
    store = RunStore(run, overwrite=True)  # the next writer clears what the killed one left
    store.close()
    assert _siblings(run) == [] and _snapshot(run) == before


def test_a_run_replaced_and_deleted_while_it_is_read_is_read_again(tmp_path, monkeypatch):
    """The reader holds the old folder open; the overwrite swaps the new run in and deletes the old one under it:
    the reader reads the run now at the path instead of failing on a vanished file."""
    import shutil

    from vg_studio.train import run_reader

    run = tmp_path / "run"
    write_run(run, epochs=1)
    read, replaced = run_reader._read_run, []

    def replaced_meanwhile(base):
        if not replaced:
            replaced.append(True)
            shutil.move(run, tmp_path / "old")
            write_run(run, epochs=2)
            shutil.rmtree(tmp_path / "old")
        return read(base)

    monkeypatch.setattr(run_reader, "_read_run", replaced_meanwhile)
    loaded = open_run(run)
    assert replaced and loaded.dir == run and loaded.history.num_epochs == 2


def test_a_reader_never_mixes_two_runs_while_one_replaces_the_other(tmp_path):
    run = tmp_path / "run"
    write_run(run, epochs=1)
    stop, seen = time.time() + 60, set()
    proc = subprocess.Popen([sys.executable, "-c", f"""
import sys, time, numpy as np; sys.path.insert(0, {str(ROOT)!r})
from tests.test_runstore import new_history, add
from vg_studio.train.runstore import RunStore
for n in range(1, 13):
    store, h = RunStore({str(run)!r}, overwrite=True), new_history()
    store.write_model_summary({{"name": f"run {{n}}", "layers": []}})
    for step in range(1, n + 1):
        add(h, step, 0)
    h.status = "completed"
    store.write_history(h)
    store.write_report({{"status": "completed", "name": f"run {{n}}"}})
    time.sleep(0.1)  # the reader gets to see each run
"""], env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        while proc.poll() is None and time.time() < stop:
            try:
                loaded = open_run(run)
            except RunStoreError as exc:  # between the swap and the first write: a run without its report yet
                assert "report" not in str(exc), exc
                continue
            if loaded.model_summary is not None and loaded.report:
                n = int(loaded.model_summary["name"].split()[1])
                assert loaded.report["name"] == f"run {n}" and loaded.history.num_records == n  # one run's files
                seen.add(n)
    finally:
        proc.wait(timeout=60)
    assert len(seen) >= 3


def test_a_follower_notices_a_writer_killed_without_a_report(tmp_path):
    run = tmp_path / "run"
    proc = _start_writer(run)
    proc.stdout.readline()
    follower = RunFollower(run)
    assert not any(type(e).__name__ == "RunFinished" for e in follower.poll())  # alive: still running
    proc.kill()
    proc.wait()
    events = follower.poll()
    assert type(events[-1]).__name__ == "RunFinished" and events[-1].status == "failed"
    assert sorted(p.name for p in run.iterdir()) == [".lock", ".reserve", "history.h5", "history.log"]


def test_run_facts_in_the_log_stay_numbers(tmp_path):
    """A killed run's facts (epochs, steps per epoch) come back as the numbers written: the log wrote scalars as
    one-element arrays, so a follower's RunStarted said epochs=[3]."""
    run = tmp_path / "run"
    write_run(run, finish=False)
    (run / "history.h5").unlink()
    attrs = open_run(run).history.attrs
    assert attrs["epochs"] == 3 and attrs["steps_per_epoch"] == 4 and not isinstance(attrs["epochs"], np.ndarray)
    assert list(attrs["layer_units"]) == [8, 8, 10]


@pytest.mark.parametrize("case", ["spec of another network", "model.json of another network", "both",
                                  "model.json a key twice", "model.json 1e309", "model.json layers not objects",
                                  "model.json units text", "model.json from the future", "model.json foreign",
                                  "spec a link to itself"])
def test_run_files_that_do_not_belong_together_are_refused(case, tmp_path):
    from vg_studio import edits
    from vg_studio.spec import example_spec

    run = tmp_path / "run"
    write_run(run)
    summary = {"format": "vg_studio.model_summary", "version": 1, "name": "m",
               "layers": [{"name": n, "kind": "dense", "units": 8} for n in ("hidden_1", "hidden_2", "output")]}
    text = {"spec of another network": None, "both": json.dumps(summary), "model.json a key twice":
            '{"name": "a", "name": "b"}', "model.json 1e309": '{"param_count": 1e309}',
            "model.json layers not objects": '{"layers": [1, 2]}', "model.json units text":
            json.dumps({"layers": [{"name": "x", "units": "many"}]}), "model.json from the future":
            json.dumps({**summary, "version": 99}), "model.json foreign": '{"format": "something else"}',
            "model.json of another network": json.dumps({**summary, "layers": summary["layers"][:2]})}.get(case)
    if case in ("spec of another network", "both"):
        edits.set_depth(example_spec(), 5 if case != "both" else 2).save(run / "spec.json")
    if case == "spec a link to itself":
        (run / "spec.json").symlink_to("spec.json")
    if text is not None:
        (run / "model.json").write_text(text)
    with pytest.raises(RunStoreError) as info:
        open_run(run)
    message = str(info.value)
    assert ("spec.json" in message or "model.json" in message) and "\n" not in message, message


def test_a_dead_writers_run_is_ended_with_its_completed_epochs(tmp_path):
    from vg_studio.train.runstore import end_abandoned_run

    run = tmp_path / "run"
    proc = _start_writer(run)
    for _ in range(3):
        proc.stdout.readline()
    with pytest.raises(RunStoreError, match="another run is writing"):
        end_abandoned_run(run, "failed", "the training process died")  # alive: not abandoned
    proc.kill()
    proc.wait()
    loaded = end_abandoned_run(run, "failed", "the training process died")
    assert loaded.status == "failed" and loaded.report["epochs_completed"] == loaded.history.num_epochs >= 3
    assert not (run / "history.log").exists()
    with h5py.File(run / "history.h5") as f:  # h5py alone sees every record now
        assert f["probes/step"].shape[0] == loaded.history.num_records and f.attrs["status"] == "failed"
    check_prefix(open_run(run).history)


@pytest.mark.slow
def test_append_time_stays_flat_as_the_run_grows(tmp_path):
    """Timing (slow: the CI suite asserts bytes, not seconds): the median time of an append at 20,000 records
    is within 2x of the one at 200 records, with 200 layers. Rewriting the history would be ~100x slower."""
    import statistics

    store, h = RunStore(tmp_path / "run"), new_history(200)
    medians = {}
    step = 0
    for point in (200, 20_000):
        times = []
        while step < point:
            step += 1
            add(h, step, step // 1000)
            started = time.perf_counter()
            store.write_history(h)
            if point - step < 200:
                times.append(time.perf_counter() - started)
        medians[point] = statistics.median(times)
    assert medians[20_000] < 2 * medians[200], medians


def test_a_packed_cell_brings_back_every_file_a_run_directory_holds(tmp_path, monkeypatch):
    """A Ray cell trains on another node and returns its run directory's files: every file docs/file-formats.md
    lists for a run (model.json of a model run, history.log of an interrupted one), none of the writer's own."""
    import re

    from vg_studio.train import cells

    documented = re.findall(r"^\| `([\w.]+)` \|", (ROOT / "docs" / "file-formats.md").read_text(), re.M)
    assert {"spec.json", "model.json", "history.h5", "history.log", "report.json", "model.keras"} <= set(documented)

    def fake_cell(key, spec, run_dir, *args, **kwargs):
        for name in [*documented, ".lock", ".reserve"]:
            (Path(run_dir) / name).write_text(name)
        return {"key": key, "status": "completed", "message": ""}

    monkeypatch.setattr(cells, "run_cell", fake_cell)
    outcome = cells.run_cell_packed("k", {})
    assert sorted(outcome["files"]) == sorted(documented)
    cells._unpack(outcome["files"], tmp_path / "back")
    assert sorted(p.name for p in (tmp_path / "back").iterdir()) == sorted(documented)
