import os

# Before anything imports TensorFlow or Qt: quiet TF, headless Qt, no GPU surprises in tests.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# The app's training process: one warm child serves every run of the test session (vg_studio/runner.py) instead of
# a fresh process (and a fresh ~10 s TensorFlow import) per run. tests/test_runner.py checks the fresh-process path.
os.environ.setdefault("VG_STUDIO_REUSE_TRAINING_PROCESS", "1")

import tracemalloc  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import pytest  # noqa: E402

from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, MonitoringSpec, NetworkSpec, OptimizerSpec, \
    TrainingSpec  # noqa: E402


def make_tiny_spec(layers=2, units=16, activation="relu", optimizer="adam", lr=0.01, epochs=1, limit=300,
                   dataset="digits", record_every=2, **layer_kwargs) -> ExperimentSpec:
    return ExperimentSpec(
        name="tiny",
        data=DataSpec(dataset=dataset, options={"limit": limit} if limit else {}),
        network=NetworkSpec(layers=[LayerSpec(units=units, activation=activation, **layer_kwargs)
                                    for _ in range(layers)]),
        optimizer=OptimizerSpec(name=optimizer, learning_rate=lr),
        training=TrainingSpec(epochs=epochs, batch_size=50, seed=1),
        monitoring=MonitoringSpec(record_every=record_every, probe_batch_size=64),
    )


@contextmanager
def allocates_under(mib: int):
    """A refusal that comes before the work: the memory Python, NumPy and Pillow allocate meanwhile stays small
    (decompressing, decoding or allocating what a file declares would not). Measured, unlike a wall time, the same
    on a loaded machine."""
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < mib * 2**20, f"{peak / 2**20:.0f} MiB allocated before the refusal"


@pytest.fixture
def tiny_spec():
    return make_tiny_spec()


# ---- leaving the session ---------------------------------------------------------------------------------------
def pytest_sessionfinish(session, exitstatus):
    """End what the app tests started while everything is still alive: the warm training child, and every window
    and widget (closed and deleted in Qt's own order, before the interpreter tears Python and the native thread
    pools down)."""
    import sys

    runner = sys.modules.get("vg_studio.runner")
    if runner is not None and getattr(runner, "_POOL", None) is not None:
        runner._POOL.shutdown()
    gui = sys.modules.get("vg_studio.gui")
    if gui is not None:
        gui.release_qt()
