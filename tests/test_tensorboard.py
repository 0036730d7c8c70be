"""TensorBoard event files of a run, read back with TensorBoard's own EventAccumulator and compared with the run's
history: per-layer scalars, histograms of log10 |g| and |ΔW|, loss and metrics, findings as text; exported from
disk and written live by the listener alike, with no TensorFlow."""

import subprocess
import sys
import types

import numpy as np
import pytest

pytest.importorskip("tensorboard")

from tests.gui.synthetic_runs import EDGES, synthetic_events  # noqa: E402
from tests.report_runs import trained_run, vanishing_finding, write_run  # noqa: E402
from vg_studio.train import events  # noqa: E402


def read_back(logdir):
    """TensorBoard's own reader (its TensorFlow-free file reader: these files never need TensorFlow)."""
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(logdir), size_guidance={"tensors": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


def series(accumulator, tag):
    from tensorboard.util import tensor_util

    events_ = accumulator.Tensors(tag)
    return np.array([e.step for e in events_]), [tensor_util.make_ndarray(e.tensor_proto) for e in events_]


def check_against_history(accumulator, history):
    tags = set(accumulator.Tags()["tensors"])
    steps = np.asarray(history.steps)
    got_steps, loss = series(accumulator, "loss")
    np.testing.assert_array_equal(got_steps, steps)
    np.testing.assert_allclose(np.array(loss, dtype=float), history.record_loss, rtol=1e-6)
    _, accuracy = series(accumulator, "accuracy")
    np.testing.assert_allclose(np.array(accuracy, dtype=float), history.record_metrics["accuracy"], rtol=1e-6)
    for stat in ("grad_mean_abs", "grad_norm", "update_ratio", "dead_fraction", "saturated_fraction"):
        for column, layer in enumerate(history.layer_names):
            _, values = series(accumulator, f"{stat}/{layer}")
            np.testing.assert_allclose(np.array(values, dtype=float), history.stat(stat)[:, column], rtol=1e-6)
    for stat, label in (("grad_log10_hist", "log10_abs_gradient"), ("update_log10_hist", "log10_abs_update")):
        for column, layer in enumerate(history.layer_names):
            got_steps, tensors = series(accumulator, f"{label}/{layer}")
            np.testing.assert_array_equal(got_steps, steps)
            last = tensors[-1]
            assert last.shape == (len(EDGES) - 1, 3)  # TensorBoard's (left, right, count) buckets
            np.testing.assert_allclose(last[:, 0], EDGES[:-1])
            np.testing.assert_allclose(last[:, 1], EDGES[1:])
            np.testing.assert_allclose(last[:, 2], history.stat(stat)[-1, column], rtol=1e-6, atol=1e-9)
    epochs, val = series(accumulator, "epoch/val_accuracy")
    np.testing.assert_array_equal(epochs, np.arange(1, len(history.epochs["val_accuracy"]) + 1))
    np.testing.assert_allclose(np.array(val, dtype=float), history.epochs["val_accuracy"], rtol=1e-6)
    metadata = accumulator.SummaryMetadata(f"log10_abs_gradient/{history.layer_names[0]}")
    assert metadata.plugin_data.plugin_name == "histograms"  # TensorBoard's histogram and distribution dashboards
    assert accumulator.SummaryMetadata("loss").plugin_data.plugin_name == "scalars"
    return tags


def test_an_exported_run_reads_back_as_its_history(tmp_path):
    finding = vanishing_finding()
    history = write_run(tmp_path / "run", findings=[finding], layers=3, records=24, steps_per_epoch=8)
    from vg_studio.report.tensorboard import export_tensorboard

    path = export_tensorboard(tmp_path / "run", tmp_path / "logs")
    accumulator = read_back(path.parent)
    check_against_history(accumulator, history)
    _, texts = series(accumulator, "findings")
    text = texts[-1].item().decode()
    assert "vanishing gradient in h1" in text and finding.message in text and "ReLU" in text
    assert accumulator.SummaryMetadata("findings").plugin_data.plugin_name == "text"


def test_the_live_listener_writes_the_same_while_the_run_trains(tmp_path):
    from vg_studio.history import History
    from vg_studio.report.tensorboard import TensorBoardWriter

    writer, history = TensorBoardWriter(tmp_path / "live"), None
    for event in synthetic_events(layers=4, records=20, steps_per_epoch=10):
        writer(event)
        if isinstance(event, events.RunStarted):
            history = History(event.layer_names, event.activations, 1)
        elif isinstance(event, events.ProbeRecord):
            history.add_record(event.step, event.epoch, event.loss, event.stats, event.optimizer,
                               metrics=event.metrics)
            if event.step == 10:  # readable while the run goes on: flushed after each record
                assert len(series(read_back(tmp_path / "live"), "loss")[0]) == 10
                writer(events.FindingsUpdated([vanishing_finding()], [vanishing_finding()]))
        elif isinstance(event, events.EpochEnd):
            history.add_epoch(event.epoch, event.logs)
    assert writer.file is None  # closed when the run finished
    accumulator = read_back(tmp_path / "live")
    check_against_history(accumulator, history)
    steps, texts = series(accumulator, "findings")
    assert list(steps) == [10] and "vanishes in h1" in texts[0].item().decode()


def test_each_batch_loss_of_a_real_run_is_its_own_scalar_series_at_its_step(tmp_path):
    """`loss/batch` holds /batches (read with h5py) step by step, written live by the monitor and exported from
    disk alike; `loss` stays Keras's running mean per record."""
    import h5py

    from vg_studio.report.tensorboard import export_tensorboard

    run = trained_run(tmp_path / "run", tensorboard_dir=tmp_path / "live")
    with h5py.File(run / "history.h5", "r") as f:
        steps, losses = f["batches/step"][()], f["batches/loss"][()]
        record_steps, record_loss = f["probes/step"][()], f["probes/loss"][()]
    assert len(steps) == 26 and len(record_steps) < len(steps)
    for logdir in (tmp_path / "live", export_tensorboard(run, tmp_path / "logs").parent):
        accumulator = read_back(logdir)
        got_steps, values = series(accumulator, "loss/batch")
        np.testing.assert_array_equal(got_steps, steps)
        np.testing.assert_allclose(np.array(values, dtype=float), losses, rtol=1e-6)  # float32 in the event file
        assert accumulator.SummaryMetadata("loss/batch").plugin_data.plugin_name == "scalars"  # smoothed by TB
        got_steps, values = series(accumulator, "loss")
        np.testing.assert_array_equal(got_steps, record_steps)
        np.testing.assert_allclose(np.array(values, dtype=float), record_loss, rtol=1e-6)


def test_the_live_listener_writes_each_batch_loss_the_events_carry(tmp_path):
    """Batches after a record arrive with the next record or the epoch's end: each written once, at its step."""
    from vg_studio.report.tensorboard import TensorBoardWriter

    writer, carried = TensorBoardWriter(tmp_path / "live"), []
    for event in synthetic_events(layers=2, records=8, steps_per_epoch=10, record_every=3, own_losses=True):
        writer(event)
        carried += list(getattr(event, "batch_losses", ()))
    steps, values = series(read_back(tmp_path / "live"), "loss/batch")
    np.testing.assert_array_equal(steps, np.arange(1, 25))
    np.testing.assert_allclose(np.array(values, dtype=float), [loss for _, loss in carried], rtol=1e-6)
    assert [step for step, _ in carried] == list(range(1, 25))


def test_writing_needs_no_tensorflow_and_the_cli_names_the_folder(tmp_path):
    write_run(tmp_path / "my run", layers=2, records=6)
    code = ("import sys; from vg_studio.cli import main; rc = main(['export', sys.argv[1], '--tensorboard', "
            "sys.argv[2]]); assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "my run"), str(tmp_path / "logs")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    files = list((tmp_path / "logs" / "my run").glob("events.out.tfevents.*"))
    assert len(files) == 1 and "tensorboard --logdir" in done.stdout
    # again: the export replaces the last one (no doubled curves)
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "my run"), str(tmp_path / "logs")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and len(list((tmp_path / "logs" / "my run").glob("events.out.tfevents.*"))) == 1


def test_without_the_extra_one_line_names_it(tmp_path, monkeypatch, capsys):
    from vg_studio.cli import main
    from vg_studio.report.tensorboard import TensorBoardMissing, TensorBoardWriter

    write_run(tmp_path / "run", layers=2, records=3)
    monkeypatch.setitem(sys.modules, "tensorboard.summary.writer.record_writer", None)  # as if not installed
    with pytest.raises(TensorBoardMissing, match=r"pip install 'vg-studio\[tensorboard\]'"):
        TensorBoardWriter(tmp_path / "logs")
    assert main(["export", str(tmp_path / "run"), "--tensorboard", str(tmp_path / "logs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "vg-studio[tensorboard]" in err[0]
    assert main(["export", str(tmp_path / "run")]) == 2  # neither --to nor --tensorboard
