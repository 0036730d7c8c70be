import keras
import numpy as np
import pytest

from vg_studio import catalog, edits
from vg_studio.nn.attention import choose_tokens
from vg_studio.nn.build import build_model, count_params, layer_groups
from vg_studio.spec import ExperimentSpec, example_spec
from tests.conftest import make_tiny_spec
from tests.test_sdagd import no_keras_name_scope_left_open  # noqa: F401  (autouse)


@pytest.mark.parametrize("activation", catalog.ACTIVATIONS)
def test_every_activation_builds_and_runs(activation):
    spec = make_tiny_spec(layers=2, units=6, activation=activation)
    model = build_model(spec, (8, 8, 1), 10)
    out = model(np.random.default_rng(0).random((3, 8, 8, 1), dtype=np.float32))
    assert out.shape == (3, 10)
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, rtol=1e-5)
    assert count_params(spec, (8, 8, 1), 10) == model.count_params()


@pytest.mark.parametrize("initializer", list(catalog.INITIALIZERS))
def test_every_initializer(initializer):
    spec = make_tiny_spec(layers=1, units=200, initializer=initializer, init_stddev=0.3)
    kernel = build_model(spec, (64,), 10).get_layer("hidden_1_dense").kernel.numpy()
    fan_in, fan_out = kernel.shape
    expected_std = {
        "glorot_uniform": np.sqrt(2 / (fan_in + fan_out)), "glorot_normal": np.sqrt(2 / (fan_in + fan_out)),
        "he_normal": np.sqrt(2 / fan_in), "he_uniform": np.sqrt(2 / fan_in),
        "lecun_normal": np.sqrt(1 / fan_in), "lecun_uniform": np.sqrt(1 / fan_in),
        "random_normal": 0.3, "zeros": 0.0,
    }[initializer]
    assert kernel.std() == pytest.approx(expected_std, rel=0.15, abs=1e-9)


def test_options_build_the_expected_layers_and_groups():
    spec = make_tiny_spec(layers=3, units=12, batch_norm=True, residual=True, dropout=0.2)
    spec = edits.update_layers(spec, 1, attention=True)
    model = build_model(spec, (8, 8, 1), 10)
    names = {layer.name for layer in model.layers}
    assert {"hidden_1_bn", "hidden_1_residual", "hidden_1_shortcut", "hidden_1_dropout",
            "hidden_2_attention_query", "hidden_2_attention_softmax", "output"} <= names
    assert "hidden_2_shortcut" not in names  # 12 → 12: identity shortcut
    groups = layer_groups(model, spec)
    assert [g.name for g in groups] == ["hidden_1", "hidden_2", "hidden_3", "output"]
    assert "hidden_2_attention_key" in groups[1].layer_names
    assert count_params(spec, (8, 8, 1), 10) == model.count_params()


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("value_mode", ["input", "projected"])
def test_attention_block_matches_seed_000_equations(value_mode):
    """h = σ(W(α·x)+b), α = softmax(q kᵀ/√d_k), q = W_q x, k = W_k x — computed independently in NumPy."""
    spec = make_tiny_spec(layers=1, units=5, activation="sigmoid", attention=True, attention_value=value_mode)
    model = build_model(spec, (8, 8, 1), 10)
    x = np.random.default_rng(1).random((4, 8, 8, 1), dtype=np.float32)
    tap = keras.Model(model.input, model.get_layer("hidden_1_act").output)
    got = np.asarray(tap(x))
    tokens = x.reshape(4, 8, 8).astype(np.float64)  # image rows are the tokens
    wq = model.get_layer("hidden_1_attention_query").kernel.numpy()
    wk = model.get_layer("hidden_1_attention_key").kernel.numpy()
    q, k = tokens @ wq, tokens @ wk
    alpha = _softmax(q @ k.transpose(0, 2, 1) / np.sqrt(wk.shape[1]))
    v = tokens @ model.get_layer("hidden_1_attention_value").kernel.numpy() if value_mode == "projected" else tokens
    mixed = (alpha @ v).reshape(4, -1)
    dense = model.get_layer("hidden_1_dense")
    expected = 1 / (1 + np.exp(-(mixed @ dense.kernel.numpy() + dense.bias.numpy())))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_token_choice():
    assert choose_tokens(784, image_rows=28) == 28
    assert choose_tokens(700) in (25, 28)
    assert choose_tokens(64) == 8
    assert choose_tokens(13) == 13  # prime: one feature per token
    with pytest.raises(ValueError, match="does not divide"):
        choose_tokens(700, requested=3)


def test_same_seed_same_weights():
    spec = make_tiny_spec(layers=2, units=8)
    a = build_model(spec, (8, 8, 1), 10).get_weights()
    b = build_model(spec, (8, 8, 1), 10).get_weights()
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("name, expected", [
    ("Versuch über Sigmoid", "Versuch_uber_Sigmoid"), ("café", "cafe"), ("🧪 deep net 🧪", "deep_net"),
    ("-lead", "lead"), ("...", "vg_model"), ("日本語", "vg_model"), ("a/b\\c", "a_b_c"), ("ok-name.v2", "ok-name.v2"),
])
def test_model_names_are_keras_safe(name, expected):
    from vg_studio.nn.build import model_name

    assert model_name(name) == expected


def test_a_unicode_experiment_name_trains():
    """Keras checks scope names when the optimizer creates its variables: this name crashed training before."""
    from vg_studio.nn.build import build_models

    spec = make_tiny_spec(layers=1, units=4, optimizer="sdagd")
    spec = ExperimentSpec.from_dict({**spec.to_dict(), "name": "-🧪 Versuch über Sigmoid, café"})
    models = build_models(spec, (6,), 3)
    assert models.user.name == "Versuch_uber_Sigmoid_cafe"
    models.train.compile("adam", "sparse_categorical_crossentropy", run_eagerly=True)
    models.train.train_on_batch(np.zeros((4, 6), "float32"), np.zeros(4, "int32"))


def test_parameter_count_needs_no_keras():
    """The GUI counts parameters live in a process that never imports Keras (vg_studio.nn.params)."""
    import subprocess
    import sys

    code = ("import sys; from vg_studio.nn.params import count_params; from vg_studio.spec import example_spec; "
            "print(count_params(example_spec(), (28, 28, 1), 10)); "
            "assert not {'keras', 'tensorflow'} & set(sys.modules), 'keras was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-1000:]
    assert int(result.stdout) == build_model(example_spec(), (28, 28, 1), 10).count_params()


@pytest.mark.parametrize("kind", catalog.RECURRENT_KINDS)
def test_every_recurrent_kind_of_the_table_builds_and_counts_like_keras(kind):
    """A recurrent kind is one row of catalog.LAYER_KIND_TABLE: the builder takes its Keras class from the row and
    the Keras-free count its weights; both must agree with Keras."""
    spec = edits.set_kind(make_tiny_spec(layers=2, units=5, activation="tanh"), kind, 0)
    model = build_model(spec, (7, 3), 4)
    layer = model.get_layer(f"hidden_1_{kind}")
    assert type(layer).__name__ == catalog.LAYER_KIND_TABLE[kind].keras_class
    assert catalog.LAYER_KIND_TABLE[kind].count_params(5, 3) == layer.count_params()
    assert count_params(spec, (7, 3), 4) == model.count_params()
