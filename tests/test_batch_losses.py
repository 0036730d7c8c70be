"""Every training batch's own loss: recovered by the recorder from Keras's running mean, stored in the run's
history (h5 and log), carried by the events, and read by the diagnosis live and offline alike. The references are
independent: NumPy's cross-entropy of a frozen network (learning rate 0, no shuffling) on each batch, and the
losses a synthetic run was given."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from vg_studio.diagnose.engine import Diagnoser, diagnose_run  # noqa: E402
from vg_studio.diagnose.listener import DiagnosisListener  # noqa: E402
from vg_studio.monitor import GradientMonitor  # noqa: E402
from vg_studio.train import events  # noqa: E402
from vg_studio.train.history_file import load_history  # noqa: E402
from vg_studio.train.step_loss import BatchLosses  # noqa: E402

from test_diagnose import HIDDEN, NAMES, keras_running_means, make_spec, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLES, BATCH, CLASSES = 104, 8, 3  # 13 steps an epoch: records at step 1, 3, 6 … leave batches after the last


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(SAMPLES, 5)).astype("float32"), rng.integers(0, CLASSES, SAMPLES)


def frozen_model(jit_compile, steps_per_execution=1, learning_rate=0.0):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="tanh"),
                              keras.layers.Dense(CLASSES, activation="softmax")])
    model.compile(keras.optimizers.SGD(learning_rate), "sparse_categorical_crossentropy", jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    return model


def numpy_batch_losses(model, x, y):
    """Each batch's mean cross-entropy, by NumPy from the network's weights."""
    w1, b1, w2, b2 = (np.asarray(v, dtype=np.float64) for v in model.get_weights())
    logits = np.tanh(x @ w1 + b1) @ w2 + b2
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    per_example = -logp[np.arange(len(y)), y]
    return per_example.reshape(-1, BATCH).mean(1)


class Collect:
    def __init__(self):
        self.events = []

    def __call__(self, event):
        self.events.append(event)


def test_every_batch_loss_is_stored_carried_and_equals_numpy_with_xla(tmp_path):
    """Records every 3 steps under XLA: the history holds all 26 batches' own losses (steps 1–26, epochs 0 and 1),
    equal to NumPy's; the records and epoch ends carried exactly those; a completed epoch's are on disk in the log
    before the run ends (a killed run keeps them)."""
    x, y = data()
    model = frozen_model(jit_compile=True)
    seen, on_disk = Collect(), {}

    def read_at_epoch_end(event):
        if isinstance(event, events.EpochEnd) and event.epoch == 0:
            on_disk["batches"] = list(load_history(tmp_path / "run" / "history.h5").batch_steps)

    monitor = GradientMonitor(tmp_path / "run", record_every=3, listeners=[seen, read_at_epoch_end])
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, callbacks=[monitor], verbose=0)
    history = load_history(tmp_path / "run" / "history.h5")
    expected = np.tile(numpy_batch_losses(model, x, y), 2)
    assert history.batch_steps == list(range(1, 27)) and history.batch_epochs == [0] * 13 + [1] * 13
    np.testing.assert_allclose(history.batch_loss, expected, rtol=2e-5)
    carried = [pair for e in seen.events if isinstance(e, (events.ProbeRecord, events.EpochEnd))
               for pair in e.batch_losses]
    assert [s for s, _ in carried] == list(range(1, 27))
    np.testing.assert_allclose([v for _, v in carried], expected, rtol=2e-5)
    tails = [[s for s, _ in e.batch_losses] for e in seen.events if isinstance(e, events.EpochEnd)]
    assert tails == [[13], [25, 26]]  # after each epoch's last record (steps 12 and 24)
    assert on_disk["batches"] == list(range(1, 14))


def test_several_steps_per_execution_keep_each_execution_s_mean():
    """With 4 steps per execution Keras reports once per execution: each entry is the mean of its batches (4, the
    epoch's last execution 1), at its last step."""
    x, y = data()
    model = frozen_model(jit_compile=False, steps_per_execution=4)
    monitor = GradientMonitor(None, record_every=3)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    history = monitor.history
    assert history.batch_steps == [4, 8, 12, 13]
    own = numpy_batch_losses(model, x, y)
    np.testing.assert_allclose(history.batch_loss, [own[i:i + 4].mean() for i in (0, 4, 8, 12)], rtol=2e-5)


def test_a_custom_train_step_keeps_none_and_the_diagnosis_reads_the_running_means(tmp_path):
    """A train_step of the user's own may log anything under "loss": nothing is recovered from it."""

    class Own(keras.Sequential):
        def train_step(self, data):
            return super().train_step(data)

    x, y = data()
    model = Own([keras.Input((5,)), keras.layers.Dense(CLASSES, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    monitor = GradientMonitor(tmp_path / "run", record_every=3)
    model.fit(x, y, batch_size=BATCH, epochs=1, callbacks=[monitor], verbose=0)
    assert load_history(tmp_path / "run" / "history.h5").batch_steps == []
    assert diagnose_run(tmp_path / "run")[0].state.records == 5


def test_the_running_mean_is_undone_and_a_non_finite_one_ends_what_can_be_known():
    losses = [2.0, 4.0, 1.0, 3.0]
    means = np.cumsum(losses) / np.arange(1, 5)
    recovered = BatchLosses()
    for i, mean in enumerate(means):
        recovered.add(i + 1, 0, i + 1, float(mean))
    recovered.add(5, 0, 5, math.inf)
    recovered.add(6, 0, 6, math.nan)
    recovered.add(7, 1, 1, 1.5)  # a new epoch starts its own mean
    values = [v for _, _, v in recovered.take()]
    np.testing.assert_allclose(values[:4], losses)
    assert values[4] == math.inf and math.isnan(values[5]) and values[6] == 1.5


# ---- the diagnosis ------------------------------------------------------------------------------------------
def synthetic(batches, per_epoch, every, own):
    """A diagnosed run recorded every `every` steps whose batches had these losses; `own`: the records carry each
    batch's own loss (else only Keras's running means, as runs recorded before they were kept)."""
    means = keras_running_means(batches, per_epoch)
    d = Diagnoser(NAMES, ["relu"] * HIDDEN + ["softmax"], make_spec("relu"), num_classes=10,
                  steps_per_epoch=per_epoch, budget_steps=len(batches))
    previous = 0
    for step in [1] + list(range(every, len(batches) + 1, every)):
        r = record(step, loss=means[step - 1], epoch=(step - 1) // per_epoch, update=[0.05] * 7)
        if own:
            r.batch_losses = tuple((s, batches[s - 1]) for s in range(previous + 1, step + 1))
        previous = step
        d.on_record(r)
    d.finish()
    return d


def test_bursts_between_records_are_an_oscillation_once_each_batch_s_loss_is_seen():
    """Three bursts to 11 in the last 100 batches of a loss at 2.35, recorded every 10 steps: the mean of each
    record's 10 batches spreads a burst over them and the swing stays under the threshold; each batch's own loss
    shows it. Recorded every step, both ways see the same losses and reach the same verdicts."""
    rng = np.random.default_rng(0)
    batches = list(2.35 + 0.1 * rng.normal(size=300))
    for s in (215, 248, 283):
        batches[s] = 11.0
    found = lambda d: {f.kind: (f.severity, f.state) for f in d.findings}  # noqa: E731
    own, means = synthetic(batches, 100, 10, own=True), synthetic(batches, 100, 10, own=False)
    assert found(own)["oscillating_loss"] == ("warning", "active") and "oscillating_loss" not in found(means)
    # the loss since the previous record (what the exploding rule reads) is the same either way
    assert own.state.batch_loss == pytest.approx(float(np.mean(batches[-10:])), rel=1e-9)
    assert means.state.batch_loss == pytest.approx(own.state.batch_loss, rel=1e-9)
    own, means = synthetic(batches, 100, 1, own=True), synthetic(batches, 100, 1, own=False)
    assert found(own) == found(means) and "oscillating_loss" in found(own)
    np.testing.assert_allclose([v for _, v in own.state.batch_losses.items],
                               [v for _, v in means.state.batch_losses.items], rtol=1e-9)


@pytest.fixture(scope="module")
def learning_run(tmp_path_factory):
    """A tiny run that learns (SGD 0.5), recorded every 3 steps, diagnosed live."""
    run_dir = tmp_path_factory.mktemp("batches") / "run"
    x, y = data()
    model = frozen_model(jit_compile=False, learning_rate=0.5)
    live = DiagnosisListener()
    monitor = GradientMonitor(run_dir, record_every=3, listeners=[live])
    model.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, callbacks=[monitor], verbose=0)
    return run_dir, live


def test_live_and_offline_see_the_same_batches_and_reach_the_same_verdicts(learning_run):
    run_dir, live = learning_run
    offline = diagnose_run(run_dir)[0]
    history = load_history(run_dir / "history.h5")
    assert live.diagnoser.state.per_batch and offline.state.per_batch
    assert live.diagnoser.state.batch_losses.items == offline.state.batch_losses.items
    assert offline.state.batch_losses.items[-1] == (39, history.batch_loss[-1])
    assert [(f.kind, f.severity, f.state, f.step) for f in live.findings] == \
        [(f.kind, f.severity, f.state, f.step) for f in offline.findings]


def test_a_follower_of_the_run_directory_hands_out_the_same_batches_with_the_same_events(learning_run):
    """The app follows a run through its files: the follower's records and epoch ends carry each batch's loss as
    the live ones did (a listener fed by the follower diagnoses as the live one did)."""
    from vg_studio.train.follower import RunFollower

    run_dir, live = learning_run
    followed = DiagnosisListener()
    follower = RunFollower(run_dir)
    for event in follower.poll():
        followed(event)
    follower.close()
    assert followed.diagnoser.state.batch_losses.items == live.diagnoser.state.batch_losses.items
    assert [(f.kind, f.severity, f.state) for f in followed.findings] == \
        [(f.kind, f.severity, f.state) for f in live.findings]


def test_a_run_without_batch_losses_reads_and_is_diagnosed_from_the_running_means(learning_run, tmp_path):
    """The same run with its batch losses taken out (as runs recorded before they were kept): it reads, and the
    engine's loss of the batches is what the running means give — the mean over the batches since the previous
    record of the epoch (NumPy from the recorded means), the epoch's tail from its mean loss."""
    import shutil

    import h5py

    run_dir, _ = learning_run
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    with h5py.File(old / "history.h5", "a") as f:
        del f["batches"]
    history = load_history(old / "history.h5")
    assert history.batch_steps == [] and history.num_records == 14
    d = diagnose_run(old)[0]
    assert not d.state.per_batch
    expected, per_epoch = [], 13
    steps, means = history.steps, history.record_loss
    for r, step in enumerate(steps):
        start = (step - 1) // per_epoch * per_epoch  # steps done before the epoch began
        prev = steps[r - 1] if r and steps[r - 1] > start else start
        mean_before = means[r - 1] if prev > start else 0.0
        expected.append((step, ((step - start) * means[r] - (prev - start) * mean_before) / (step - prev)))
        end = start + per_epoch
        if step < end and (r + 1 == len(steps) or steps[r + 1] > end):  # the epoch's last record: then its tail
            epoch_mean = history.epochs["loss"][(step - 1) // per_epoch]
            expected.append((end, (per_epoch * epoch_mean - (step - start) * means[r]) / (end - step)))
    got = d.state.batch_losses.items
    assert [s for s, _ in got] == [s for s, _ in expected[-len(got):]]
    np.testing.assert_allclose([v for _, v in got], [v for _, v in expected[-len(got):]], rtol=1e-9)


JAX_SCRIPT = r"""
import numpy as np, keras, tempfile
assert keras.backend.backend() == "jax"
from vg_studio.monitor import GradientMonitor
from vg_studio.train.history_file import load_history
rng = np.random.default_rng(0)
x, y = rng.normal(size=(104, 5)).astype("float32"), rng.integers(0, 3, 104)
model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="tanh"),
                          keras.layers.Dense(3, activation="softmax")])
model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
run = tempfile.mkdtemp() + "/run"
model.fit(x, y, batch_size=8, epochs=2, shuffle=False, callbacks=[GradientMonitor(run, record_every=3)], verbose=0)
h = load_history(run + "/history.h5")
expected = [float(np.mean(keras.ops.convert_to_numpy(keras.losses.sparse_categorical_crossentropy(
    y[i:i + 8], model(x[i:i + 8]))))) for i in range(0, 104, 8)] * 2
assert h.batch_steps == list(range(1, 27)), h.batch_steps
np.testing.assert_allclose(h.batch_loss, expected, rtol=2e-5)
print("jax batch losses ok")
"""


@pytest.mark.slow
def test_every_batch_loss_on_the_jax_backend():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", JAX_SCRIPT], capture_output=True, text=True, timeout=600, env=env,
                         cwd=ROOT)
    assert out.returncode == 0 and "jax batch losses ok" in out.stdout, out.stderr[-3000:]


def test_batch_ends_that_arrive_out_of_order_wait_for_the_ones_before_them():
    """Keras runs JAX's batch-end hooks on a pool of threads: step 6 may be handed over before step 5. A batch's own
    loss needs the mean of the step before, so only the steps that follow the last handled one without a gap are
    taken; an epoch's last execution may be shorter than `steps_per_execution`."""
    from vg_studio.train.step_loss import in_step_order

    ends = [(3, 0, {}), (4, 0, {}), (6, 0, {}), (7, 0, {})]
    assert in_step_order(ends, 2, 1) == (ends[:2], ends[2:])
    assert in_step_order(ends[2:], 5, 1) == (ends[2:], [])
    executions = [(4, 0, {}), (12, 0, {})]
    assert in_step_order(executions, 0, 4) == (executions[:1], executions[1:])
    assert in_step_order([(26, 0, {})], 24, 4) == ([(26, 0, {})], [])  # 26 steps an epoch: the last execution is 2
