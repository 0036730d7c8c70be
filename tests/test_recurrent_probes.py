"""Recurrent stacks with per-time-step probes, and auxiliary classifier heads."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from vg_studio import edits
from vg_studio.data import Dataset, DatasetError, load_dataset
from vg_studio.nn.build import build_models, count_params
from vg_studio.spec import ExperimentSpec, LayerSpec, SpecError
from vg_studio.train.history_file import load_history
from vg_studio.train.runstore import History
from vg_studio.train.trainer import Trainer, prepare_data
from tests.conftest import make_tiny_spec


def _recurrent_spec(kind, length=12, units=8, **training):
    spec = make_tiny_spec(layers=1, units=units, activation="tanh", optimizer="sgd", lr=0.1, dataset="adding",
                          limit=None, record_every=1)
    spec = edits.set_data_option(edits.set_data_option(spec, "length", length), "n", 100)
    spec = edits.set_kind(spec, kind, 0)
    return spec.model_copy(update={"training": spec.training.model_copy(update=dict(
        validation_split=0.0, shuffle=False, batch_size=80, **training))})


def test_recurrent_layers_must_lead_and_refuse_dense_options():
    spec = make_tiny_spec(layers=2)
    spec = edits.set_kind(spec, "lstm", 1)
    problems = spec.validate()
    assert "h2 (network.layers[1]).kind: recurrent layers must come before the dense layers" in problems
    spec = edits.set_layers(spec, [LayerSpec(kind="gru", activation="tanh").model_copy(update={"attention": True})])
    assert "h1 (network.layers[0]).attention: not available on a recurrent layer" in spec.validate()
    with pytest.raises(SpecError, match="unknown layer kind 'rnn'"):
        ExperimentSpec.from_dict({"network": {"layers": [{"kind": "rnn"}]}})


@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("input_shape", [(12, 2), (8, 8, 1), (20,)])
def test_recurrent_builds_and_counts(kind, input_shape):
    spec = make_tiny_spec(layers=3, units=6, activation="tanh")
    spec = edits.set_kind(spec, kind, [0, 1])
    spec = edits.update_layers(spec, 1, return_sequences=True)  # feeds a dense layer: flattened over time
    models = build_models(spec, input_shape, 4)
    assert models.user.count_params() == count_params(spec, input_shape, 4)
    out = models.user(np.zeros((2, *input_shape), dtype="float32"))
    assert out.shape == (2, 4)
    assert models.time_probe is not None and "time_step_probe" not in [l.name for l in models.user.layers]


def test_time_step_probe_matches_gradient_tape():
    spec = _recurrent_spec("simple_rnn")
    data = prepare_data(spec)
    result = Trainer(spec, dataset=data).run()
    assert result.status == "completed"
    models = build_models(spec, data.input_shape, data.num_classes)  # same seed: the same initial weights
    x = tf.constant(data.x_train[:80])
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.keras.losses.SparseCategoricalCrossentropy()(data.y_train[:80], models.user(x, training=True))
    expected = np.abs(tape.gradient(loss, x).numpy()).mean(axis=(0, 2))
    np.testing.assert_allclose(result.history.time_grad[0], expected, rtol=2e-3)
    assert len(result.history.time_grad) == result.history.num_records


def test_time_steps_are_stored_and_exported_model_is_the_user_network(tmp_path):
    spec = _recurrent_spec("lstm")
    spec = edits.update_layers(spec, 0, aux_head=True)
    spec = edits.add_layer(spec, layer=LayerSpec(units=5, activation="relu", aux_head=True))
    result = Trainer(spec, run_dir=tmp_path).run()
    assert result.status == "completed"
    history = load_history(tmp_path / "history.h5")
    assert np.vstack(history.time_grad).shape == (history.num_records, 12)
    assert "total_loss" in history.epochs and "accuracy" in history.epochs  # the user's network's own loss
    code = textwrap.dedent(f"""
        import sys, keras
        model = keras.saving.load_model({str(tmp_path / 'model.keras')!r})
        names = [layer.name for layer in model.layers]
        assert len(model.outputs) == 1 and not any('aux' in n or 'probe' in n for n in names), names
        assert not any(m.startswith('vg_studio') for m in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": ""}, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]


def test_auxiliary_head_lifts_the_first_layer_gradient():
    """A midway classifier ("Causes & Solutions" §2.2) carries the error signal into the early layers of a deep sigmoid net."""
    def first_layer_gradient(aux):
        spec = make_tiny_spec(layers=6, units=32, activation="sigmoid", optimizer="sgd", lr=0.1, limit=400,
                              record_every=2)
        spec = edits.update_layers(spec, 1, aux_head=aux)
        history = Trainer(spec).run().history
        return np.nanmedian(history.stat("grad_mean_abs")[:, 0])

    without, with_aux = first_layer_gradient(False), first_layer_gradient(True)
    assert with_aux > 10 * without


def test_sequence_datasets_are_deterministic_and_balanced():
    a = load_dataset("adding", {"length": 30, "n": 400})
    assert a.input_shape == (30, 2) and abs(np.mean(a.y_train) - 0.5) < 0.1
    markers = a.x_train[..., 1]
    assert np.all(markers.sum(axis=1) == 2) and np.all(markers[:, :3].sum(axis=1) == 1)  # one in the first 10 %
    b = load_dataset("adding", {"length": 30, "n": 400})
    np.testing.assert_array_equal(a.x_test, b.x_test)
    r = load_dataset("recall", {"length": 20, "n": 200})
    np.testing.assert_array_equal(r.x_train[:, 0].argmax(axis=1), r.y_train)
    rows = load_dataset("mnist-5k-rows")
    assert rows.input_shape == (28, 28)
    with pytest.raises(DatasetError, match="data.options.length: must be an integer between 2 and 10000"):
        load_dataset("adding", {"length": 1})


def _record(step, time_grad, layers=2):
    from vg_studio.train.events import ProbeRecord

    stats = {name: np.full(layers, 1e-3) for name in ("grad_mean_abs", "grad_norm", "weight_norm",
                                                     "update_mean_abs", "update_ratio")}
    return ProbeRecord(step, 0, 0.69, stats, time_grad=np.asarray(time_grad, dtype=float))


def test_vanishing_through_time_names_the_effective_horizon():
    from vg_studio.diagnose.engine import Diagnoser

    spec = _recurrent_spec("simple_rnn", length=100)
    diagnoser = Diagnoser(["hidden_1", "output"], ["tanh", "softmax"], spec, num_classes=2)
    decaying = 0.8 ** np.arange(100)[::-1]  # the gradient shrinks 0.8x per step back from the end
    new = diagnoser.on_record(_record(1, decaying))
    finding = next(f for f in new if f.kind == "vanishing_through_time")
    # 0.8^k < 1 % once k >= 21 steps back: the gradient survives 21 steps
    assert finding.evidence["effective_horizon_steps"] == 21
    assert finding.evidence["per_step_factor"] == pytest.approx(0.8, rel=0.01)
    assert finding.layers == ("hidden_1",) and "about 21 steps" in finding.message
    fixed = {fix.id: fix.apply(spec) for fix in finding.fixes}
    assert fixed["lstm"].network.layers[0].kind == "lstm" and fixed["gru"].network.layers[0].kind == "gru"
    assert fixed["shorter_sequence"].data.options["length"] == 50
    assert all(s.validate() == [] for s in fixed.values())


def test_no_time_finding_when_the_gradient_survives():
    from vg_studio.diagnose.engine import Diagnoser

    spec = _recurrent_spec("lstm", length=100)
    diagnoser = Diagnoser(["hidden_1", "output"], ["tanh", "softmax"], spec, num_classes=2)
    flat = 0.99 ** np.arange(100)[::-1]
    kinds = {f.kind for r in range(1, 5) for f in diagnoser.on_record(_record(r * 10, flat))}
    assert "vanishing_through_time" not in kinds


def test_auxiliary_head_is_a_fix_for_vanishing():
    from vg_studio.diagnose.fixes import fixes_for

    spec = make_tiny_spec(layers=6, units=32, activation="sigmoid", optimizer="sgd")
    fix = next(f for f in fixes_for("vanishing_gradient", spec) if f.id == "aux_head")
    assert [layer.aux_head for layer in fix.apply(spec).network.layers] == [False, False, True, False, False, False]


def test_unit_statistics_land_in_their_own_layer_column():
    """Recurrent groups have no pre-activation tap: the dense layer after them keeps its own column."""
    spec = _recurrent_spec("lstm")
    spec = edits.add_layer(spec, layer=LayerSpec(units=6, activation="relu", bias_init=-100.0))
    history = Trainer(spec).run().history
    dead = history.stat("dead_fraction")[-1]
    assert np.isnan(dead[0]) and dead[1] == pytest.approx(1.0) and np.isnan(dead[2])
