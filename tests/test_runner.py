"""The app's training process (vg_studio.runner), without Qt: a fresh process per run that exits when the run
ends, events as plain data, a process that dies named in one line, and the report the parent writes for it."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from tests.conftest import make_tiny_spec
from vg_studio import runner


def drain(child: runner.TrainingProcess, timeout: float = 300, on_event=None) -> tuple[list, object]:
    """Every event of one run, and the payload of its "done" message (`on_event()` is called at each event)."""
    events, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline and not child.dead:
        for kind, payload in child.receive(0.1):
            if kind == "event":
                events.append(payload)
                if on_event is not None and not child.dead:
                    on_event()
            elif kind == "done":
                return events, payload
    raise AssertionError(f"no end of run: {child.death_message()}; {child.log_tail()}")


@pytest.mark.timeout(600)
def test_a_fresh_process_per_run_streams_the_events_and_exits(tmp_path):
    from vg_studio.train import events as ev

    pool = runner.ProcessPool(reuse=False)
    try:
        child = pool.take()
        assert child.info["pid"] == child.pid != os.getpid() and child.info["backend"]
        # started while nothing trained: it loaded TensorFlow at the app's own priority (as fast as it can)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == os.getpriority(os.PRIO_PROCESS, 0)
        spec = make_tiny_spec(epochs=2, record_every=1)
        assert child.start_run(spec.to_json(), tmp_path / "run", exit_after=True)
        lowered = []
        events, error = drain(child, on_event=lambda: lowered.append(_niceness(child.pid)))
        # training yields the CPU to the window, also where the kernel shares it between sessions first
        assert min(lowered) >= min(os.getpriority(os.PRIO_PROCESS, 0) + 1, 19)
        assert error is None
        kinds = [type(e).__name__ for e in events]
        assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
        assert events[-1].status == "completed"
        # 270 examples (10 % validation) in batches of 50: 6 steps an epoch, a record every step
        assert kinds.count("BatchEnd") == 12 and kinds.count("ProbeRecord") == 12 and kinds.count("EpochEnd") == 2
        record = next(e for e in events if isinstance(e, ev.ProbeRecord))
        assert isinstance(record.stats["grad_mean_abs"], np.ndarray)  # plain data crossed the process boundary
        assert json.loads((tmp_path / "run" / "report.json").read_text())["status"] == "completed"
        assert child.wait_exit(60), "a finished run's process must exit (and free its memory)"
        pool.release(child)
        spare = pool._spare
        assert spare is not None and spare.pid != child.pid and spare.alive  # the next run's child is warming
        # warmed while nothing trains: not lowered; one warmed during a run starts lowered (see the next test)
        assert os.getpriority(os.PRIO_PROCESS, spare.pid) == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        pool.shutdown()
    assert spare.process.poll() is not None  # and it ends with the app


def _niceness(pid: int) -> int:
    try:
        return os.getpriority(os.PRIO_PROCESS, pid)
    except OSError:  # it has just exited
        return 19


def test_a_child_started_while_another_trains_starts_lowered(monkeypatch):
    """The next run's warm child imports TensorFlow while a run trains: it must not compete with the window."""
    started = []
    monkeypatch.setattr(runner, "TrainingProcess", lambda nice_at_start=False: started.append(nice_at_start) or
                        _Stub())
    pool = runner.ProcessPool(reuse=False)
    monkeypatch.setattr(pool, "_thread", lambda *args: None)  # no waiting for a stub to load TensorFlow
    pool.warm_up()
    pool._busy = 1  # a run is training
    pool._spare = None
    pool.warm_up()
    pool._spare = None
    assert started == [False, True]
    environment = runner._child_env(nice_at_start=True)
    assert environment[runner.NICE_AT_START_ENV] == "1" and runner.NICE_AT_START_ENV not in runner._child_env()


class _Stub:
    """A training process that never starts (the pool only looks at it)."""

    info = None
    dead = False

    class process:  # noqa: N801 (Popen's attribute)
        @staticmethod
        def poll():
            return None


def test_a_process_that_cannot_start_is_one_line(monkeypatch):
    broken = "import sys; print('ModuleNotFoundError: No module named tensorflow', file=sys.stderr); sys.exit(1)"
    monkeypatch.setattr(runner, "child_command", lambda fd: [__import__("sys").executable, "-c", broken])
    pool = runner.ProcessPool(reuse=False)
    try:
        with pytest.raises(runner.TrainingProcessError) as error:
            pool.take()
    finally:
        pool.shutdown()
    assert str(error.value) == ("the training process could not start: the training process exited with code 1: "
                                "ModuleNotFoundError: No module named tensorflow")


def test_the_app_records_the_end_of_a_run_whose_process_died(tmp_path):
    from vg_studio.history import History
    from vg_studio.train.runstore import RunStore, open_run

    run_dir = tmp_path / "run"
    history = History(["hidden_1", "output"], ["sigmoid", "softmax"], 1)
    store = RunStore(run_dir)
    for epoch in range(3):
        for step in range(2):
            history.add_record(2 * epoch + step + 1, epoch, 2.0 - epoch, {"grad_mean_abs": np.array([1e-6, 1e-2])})
        history.add_epoch(epoch, {"loss": 2.0 - epoch, "accuracy": 0.1 * epoch})
        store.write_history(history)
    store.close()  # the writer is gone without a report (its process was killed)
    finding = {"kind": "vanishing_gradient", "severity": "warning", "layers": ["hidden_1"]}
    written = runner.record_abnormal_end(run_dir, "deep", "failed", "the training process was ended by SIGKILL",
                                         findings=[finding])
    run = open_run(run_dir)  # the run store's strict reader accepts what was written
    assert written == run.report
    assert run.report["status"] == "failed" and "SIGKILL" in run.report["message"]
    assert run.report["epochs_completed"] == 3 and run.history.epochs["epoch"] == [0, 1, 2]
    assert run.history.num_records == 6 and (run_dir / "history.h5").is_file()
    assert run.report["findings"] == [finding]
    # a report the process wrote itself (it ended normally after all) is never overwritten
    final = {"status": "cancelled", "message": "stopped by the user", "epochs_completed": 3}
    (run_dir / "report.json").write_text(json.dumps(final))
    assert runner.record_abnormal_end(run_dir, "deep", "failed", "late") is None
    assert json.loads((run_dir / "report.json").read_text()) == final
    assert runner.record_abnormal_end(tmp_path / "never-created", "x", "failed", "no dir") is None
    # a process that died before its first record: only the end is said
    (tmp_path / "early").mkdir()
    early = runner.record_abnormal_end(tmp_path / "early", "x", "failed", "killed while loading the data")
    assert early["status"] == "failed" and early["epochs_completed"] == 0


def test_death_messages_name_the_signal(tmp_path):
    class Ended:
        def __init__(self, code):
            self.code = code

        def poll(self):
            return self.code

    child = runner.TrainingProcess.__new__(runner.TrainingProcess)
    child.log_file = open(tmp_path / "log", "w+b")
    for code, words in ((-9, "SIGKILL (killed: out of memory"), (-11, "SIGSEGV (a crash in native code)"),
                        (3, "exited with code 3")):
        child.process = Ended(code)
        assert words in child.death_message()
    child.log_file.write(b"Traceback...\nMemoryError: cannot allocate\n")
    child.process = Ended(1)
    assert child.death_message() == "the training process exited with code 1: MemoryError: cannot allocate"


def test_a_closing_app_ends_a_child_that_is_slow_to_exit(monkeypatch):
    """After a run the pool waits for its child to exit (its memory freed before the next child loads
    TensorFlow), unless the app is closing: then the child is ended, so the window closes in time."""
    import sys

    monkeypatch.setattr(runner, "child_command", lambda fd: [sys.executable, "-c", "import time; time.sleep(60)"])
    pool = runner.ProcessPool(reuse=False)
    monkeypatch.setattr(pool, "warm_up", lambda: None)  # no next child
    child = runner.TrainingProcess()
    pool._busy = 1
    asked = []
    pool.release(child, hurry=lambda: asked.append(True) or True)
    assert asked and child.process.poll() is not None and child.dead
