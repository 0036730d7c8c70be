"""SDAGD's Gauss–Newton curvature (vg_studio.nn.curvature) against exact second derivatives of tiny networks.

What is compared, precisely: the curvature SDAGD holds for a variable after one training step at learning rate 0
(so the weights do not move) on one batch, i.e. the per-batch estimate with its running average bias-corrected,
against
- the exact Hessian diagonal (`tf.GradientTape` twice) of the batch's mean loss, where the Gauss–Newton matrix is
  the Hessian (the output layer: its logits are linear in its weights);
- the exact Gauss–Newton diagonal (1/n) Σ_n Σ_kk' J_nk ∂²ℓ/∂y_k∂y_k' J_nk' from `tape.jacobian`, where LeCun's
  truncation is exact (a hidden layer under a linear squared-error output; through BatchNormalization with its
  batch statistics held fixed; a residual block's kernels);
- the exact Hessian diagonal at a fitted minimum (L-BFGS to the gradient tolerance), where the residuals vanish;
- (1/n) Σ_n g_n² from per-example gradients, for the layers below an attention block.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vg_studio.nn.build import build_models
from vg_studio.nn.curvature import activation_derivative
from vg_studio.nn.sdagd import SDAGD
from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, NetworkSpec, OptimizerSpec, TrainingSpec
from tests.test_sdagd import no_keras_name_scope_left_open  # noqa: F401  (autouse)

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="exact Hessians via tf.GradientTape")

BATCH = 16


def _spec(layers, loss="sparse_categorical_crossentropy", output_activation="softmax", seed=3, **params):
    return ExperimentSpec(
        name="curvature", data=DataSpec(dataset="digits"),
        network=NetworkSpec(layers=layers, output_activation=output_activation),
        loss=loss, optimizer=OptimizerSpec(name="sdagd", learning_rate=1.0, params=params),  # the network only:
        # each test builds its own SDAGD (learning rate 0 where the weights must stay where the curvature was taken)
        training=TrainingSpec(batch_size=BATCH, seed=seed))


def _data(features=6, classes=3, n=BATCH, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    return x, rng.integers(0, classes, n)


def _one_step(spec, x, target, classes=3, models=None, curvature_scale="diagonal"):
    """The training graph after one step at learning rate 0 on (x, target): SDAGD holds that batch's curvature
    (the Gauss–Newton diagonal itself unless curvature_scale="unit").
    (Eager: for networks this small, tracing the compiled step would take most of the test's time; the compiled
    step is tested below and in test_sdagd.py.)"""
    models = models or build_models(spec, x.shape[1:], classes)
    optimizer = SDAGD(learning_rate=0.0, batch_size=len(x), curvature_scale=curvature_scale)
    loss = spec.loss if not models.aux_outputs else {"output": spec.loss, **{n: spec.loss for n in models.aux_outputs}}
    weights = None if not models.aux_outputs else {"output": 1.0, **dict(zip(models.aux_outputs, models.aux_weights))}
    models.train.compile(optimizer, loss, loss_weights=weights, run_eagerly=True)
    models.train.train_on_batch(x, target)
    return models, optimizer


def _hessian_diagonal(loss_fn, variable):
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            loss = loss_fn()
        gradient = inner.gradient(loss, variable)
    full = outer.jacobian(gradient, variable)
    size = int(np.prod(variable.shape))
    return np.diag(np.reshape(full.numpy(), (size, size))).reshape(variable.shape)


def _gauss_newton_diagonal(outputs_fn, variable, output_curvature):
    """(1/n) Σ_n Σ_k c (∂y_nk/∂w)² for a loss whose Hessian in the outputs y is c·I (a linear squared-error
    output: c = 2/K)."""
    with tf.GradientTape() as tape:
        y = outputs_fn()
    jacobian = tape.jacobian(y, variable).numpy()  # (n, K) + variable.shape
    return output_curvature * np.mean(np.sum(np.square(jacobian), axis=1), axis=0)


def _mse(models, x, target):
    return lambda: keras.ops.mean(keras.ops.square(models.user(x) - target))


def test_output_layer_curvature_is_the_exact_hessian_diagonal():
    """Softmax cross-entropy: in the output layer's own weights the Hessian is the Gauss–Newton matrix
    xxᵀ ⊗ (diag(p) − ppᵀ); its diagonal Σ_n x² p(1−p)/n is what SDAGD must hold, to float32 rounding. The same for
    an auxiliary classifier head, whose loss is weighted 0.3 in the training loss."""
    x, y = _data()
    spec = _spec([LayerSpec(units=5, activation="sigmoid", aux_head=True, aux_weight=0.3)])
    models, optimizer = _one_step(spec, x, {"output": y, "aux_1_head": y})
    output, head = models.user.get_layer("output"), models.train.get_layer("aux_1_head")

    def cross_entropy(p):
        return keras.ops.mean(-keras.ops.log(keras.ops.take_along_axis(p, y[:, None], axis=1)))

    def loss():  # the training loss: the output's plus 0.3 × the auxiliary head's (Causes & Solutions §2.2)
        main, aux = models.train(x)
        return cross_entropy(main) + 0.3 * cross_entropy(aux)

    for variable in (output.kernel, output.bias, head.kernel):
        exact = _hessian_diagonal(loss, variable)
        np.testing.assert_allclose(np.asarray(optimizer.curvature(variable)), exact, rtol=2e-4, atol=1e-7)
    assert float(optimizer._refreshes.numpy()) == 1.0


def test_truncation_is_the_exact_gauss_newton_diagonal_under_a_linear_squared_error_output():
    """One sigmoid hidden layer, a linear output, Keras's mean squared error: each hidden unit reaches the outputs
    through one path, so LeCun's recursion drops nothing but f'' — its diagonal is the exact Gauss–Newton one."""
    x, _ = _data()
    target = np.random.default_rng(1).normal(size=(BATCH, 3)).astype("float32")
    spec = _spec([LayerSpec(units=5, activation="sigmoid")], loss="mse", output_activation="linear")
    models, optimizer = _one_step(spec, x, target)
    for layer in ("hidden_1_dense", "output"):
        for variable in models.user.get_layer(layer).trainable_variables:
            exact = _gauss_newton_diagonal(lambda: models.user(x), variable, 2.0 / 3)
            np.testing.assert_allclose(np.asarray(optimizer.curvature(variable)), exact, rtol=2e-4, atol=1e-8)


def _unit_block_scaled(block_of, gradient):
    """The reference for curvature_scale="unit": per output unit i (a column of the kernel with the bias appended),
    the diagonal of the unit's block H_i times ρ_i = g_iᵀH_i g_i / Σ_j (H_i)_jj g_ij². `block_of(i)`: H_i as a dense
    (fan-in + 1)² matrix; `gradient`: (fan-in + 1) × units."""
    out = np.zeros_like(gradient, dtype=np.float64)
    for i in range(gradient.shape[1]):
        block, g = np.asarray(block_of(i), np.float64), gradient[:, i].astype(np.float64)
        rho = g @ block @ g / np.sum(np.diag(block) * g ** 2)
        assert rho > 1.01 or rho < 0.99  # the rescaling is not trivially 1 here, so the comparison can fail
        out[:, i] = rho * np.diag(block)
    return out


def _kernel_and_bias_gradient(loss_fn, layer):
    with tf.GradientTape() as tape:
        loss = loss_fn()
    kernel, bias = tape.gradient(loss, [layer.kernel, layer.bias])
    return np.concatenate([kernel.numpy(), bias.numpy()[None, :]], axis=0)


def test_unit_scale_matches_each_units_exact_gauss_newton_block_along_the_gradient():
    """curvature_scale="unit": each output unit's diagonal rescaled so that its quadratic form along the unit's
    gradient equals that of the unit's full Gauss–Newton block. References, written out independently: the output
    layer's blocks from the exact Hessian (tape twice over kernel and bias, cross terms included: its logits are
    linear in its weights) under softmax cross-entropy, and a hidden layer's from the exact Gauss–Newton matrix
    (`tape.jacobian`) under a linear squared-error output, where each unit reaches the outputs by one path."""
    x, y = _data()
    spec = _spec([LayerSpec(units=5, activation="sigmoid")])
    models, optimizer = _one_step(spec, x, y, curvature_scale="unit")
    output = models.user.get_layer("output")

    def cross_entropy():
        return keras.ops.mean(-keras.ops.log(keras.ops.take_along_axis(models.user(x), y[:, None], axis=1)))

    with tf.GradientTape(persistent=True) as outer:
        with tf.GradientTape() as inner:
            loss = cross_entropy()
        g_kernel, g_bias = inner.gradient(loss, [output.kernel, output.bias])
    fan_in, units = output.kernel.shape
    kk = outer.jacobian(g_kernel, output.kernel).numpy()  # (fan_in, units, fan_in, units)
    kb = outer.jacobian(g_kernel, output.bias).numpy()  # (fan_in, units, units)
    bb = outer.jacobian(g_bias, output.bias).numpy()  # (units, units)
    del outer

    def hessian_block(i):
        block = np.zeros((fan_in + 1, fan_in + 1))
        block[:fan_in, :fan_in], block[:fan_in, fan_in] = kk[:, i, :, i], kb[:, i, i]
        block[fan_in, :fan_in], block[fan_in, fan_in] = kb[:, i, i], bb[i, i]
        return block

    expected = _unit_block_scaled(hessian_block, _kernel_and_bias_gradient(cross_entropy, output))
    ours = np.concatenate([np.asarray(optimizer.curvature(output.kernel)),
                           np.asarray(optimizer.curvature(output.bias))[None, :]], axis=0)
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-8)

    target = np.random.default_rng(1).normal(size=(BATCH, 3)).astype("float32")
    spec = _spec([LayerSpec(units=5, activation="sigmoid")], loss="mse", output_activation="linear")
    models, optimizer = _one_step(spec, x, target, curvature_scale="unit")
    hidden = models.user.get_layer("hidden_1_dense")
    with tf.GradientTape() as tape:
        outputs = models.user(x)
    jk, jb = tape.jacobian(outputs, [hidden.kernel, hidden.bias])  # (n, K) + shape
    jk, jb = jk.numpy(), jb.numpy()

    def gauss_newton_block(i):  # (1/n) Σ_n (2/K) Σ_k ∂y_nk/∂w̃ ∂y_nk/∂w̃ᵀ, w̃ = [kernel[:, i], bias[i]]
        jacobian = np.concatenate([jk[:, :, :, i], jb[:, :, i:i + 1]], axis=2)  # (n, K, fan_in + 1)
        return (2.0 / 3) * np.einsum("nkj,nkl->jl", jacobian, jacobian) / BATCH

    mse = _mse(models, x, target)
    expected = _unit_block_scaled(gauss_newton_block, _kernel_and_bias_gradient(mse, hidden))
    ours = np.concatenate([np.asarray(optimizer.curvature(hidden.kernel)),
                           np.asarray(optimizer.curvature(hidden.bias))[None, :]], axis=0)
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-9)


def test_layer_scale_gives_the_whole_layer_its_exact_gauss_newton_curvature_along_the_gradient():
    """curvature_scale="layer": on top of the unit scale, a hidden layer's diagonal is rescaled so that its quadratic
    form along the layer's whole gradient V (every unit at once, their coupling in the next layer included) equals
    VᵀGV with G the layer's exact Gauss–Newton matrix — exact one layer below a linear squared-error output, and
    computed here from `tape.jacobian` of the outputs over kernel and bias. The output layer keeps its unit scale."""
    x, _ = _data()
    target = np.random.default_rng(1).normal(size=(BATCH, 3)).astype("float32")
    spec = _spec([LayerSpec(units=5, activation="sigmoid")], loss="mse", output_activation="linear")
    models, layer_scaled = _one_step(spec, x, target, curvature_scale="layer")
    hidden, output = models.user.get_layer("hidden_1_dense"), models.user.get_layer("output")
    with tf.GradientTape() as tape:
        outputs = models.user(x)
    jk, jb = tape.jacobian(outputs, [hidden.kernel, hidden.bias])  # (n, K) + shape
    mse = _mse(models, x, target)
    gradient = _kernel_and_bias_gradient(mse, hidden)  # (fan_in + 1) × units
    jacobian = np.concatenate([jk.numpy(), jb.numpy()[:, :, None, :]], axis=2)  # (n, K, fan_in + 1, units)
    along = np.einsum("nkju,ju->nk", jacobian.astype(np.float64), gradient.astype(np.float64))
    exact = (2.0 / 3) * np.sum(np.square(along)) / BATCH  # VᵀGV, cross terms between units included
    ours = np.concatenate([np.asarray(layer_scaled.curvature(hidden.kernel)),
                           np.asarray(layer_scaled.curvature(hidden.bias))[None, :]], axis=0)
    np.testing.assert_allclose(np.sum(ours * gradient.astype(np.float64) ** 2), exact, rtol=1e-3)
    again, unit_scaled = _one_step(spec, x, target, curvature_scale="unit")  # the same weights (the spec's seed)
    np.testing.assert_array_equal(again.user.get_layer("hidden_1_dense").kernel.numpy(), hidden.kernel.numpy())
    hidden, output = again.user.get_layer("hidden_1_dense"), again.user.get_layer("output")
    per_unit = np.concatenate([np.asarray(unit_scaled.curvature(hidden.kernel)),
                               np.asarray(unit_scaled.curvature(hidden.bias))[None, :]], axis=0)
    ratio = np.sum(per_unit * gradient ** 2) / exact
    assert np.all(per_unit > 0)
    assert ratio > 1.05 or ratio < 0.95  # the units interact here: without the layer scale the test fails
    np.testing.assert_allclose(np.asarray(layer_scaled.curvature(models.user.get_layer("output").kernel)),
                               np.asarray(unit_scaled.curvature(output.kernel)), rtol=1e-4)


@pytest.mark.slow
def test_curvature_at_a_fitted_minimum_is_close_to_the_hessian_diagonal():
    """At a minimum with (nearly) zero residuals the f''-terms the truncation drops vanish: the Hessian diagonal
    is the Gauss–Newton one. The student is fitted to a teacher of its own shape (plus 1e-3 noise) by L-BFGS."""
    from scipy.optimize import minimize

    x, _ = _data(n=BATCH)
    spec = _spec([LayerSpec(units=4, activation="tanh")], loss="mse", output_activation="linear")
    teacher = build_models(spec, (6,), 2).user
    target = (teacher(x).numpy() + 1e-3 * np.random.default_rng(2).normal(size=(BATCH, 2))).astype("float32")
    student = build_models(_spec(spec.network.layers, "mse", "linear", seed=7), (6,), 2)
    variables = student.user.trainable_variables
    shapes = [v.shape for v in variables]

    def loss_and_gradient(flat):
        parts = np.split(flat, np.cumsum([int(np.prod(s)) for s in shapes])[:-1])
        for v, part, shape in zip(variables, parts, shapes):
            v.assign(part.reshape(shape).astype("float32"))
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.square(student.user(x) - target))
        grads = tape.gradient(loss, variables)
        return float(loss), np.concatenate([g.numpy().ravel() for g in grads]).astype(np.float64)

    start = np.concatenate([w.ravel() for w in teacher.get_weights()]) + 0.05
    fit = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-9})
    loss_and_gradient(fit.x)
    assert fit.fun < 1e-5  # the residuals are down to the noise
    optimizer = SDAGD(learning_rate=0.0, batch_size=BATCH, curvature_scale="diagonal")
    student.train.compile(optimizer, "mse")
    student.train.train_on_batch(x, target)
    for variable in variables:
        exact = _hessian_diagonal(lambda: keras.ops.mean(keras.ops.square(student.user(x) - target)), variable)
        ours = np.asarray(optimizer.curvature(variable))
        assert np.max(np.abs(ours - exact)) <= 0.02 * np.max(np.abs(exact)), (variable.path, ours, exact)


def test_recursion_through_batch_norm_and_a_residual_block():
    """The top block (Dense → BatchNorm → sigmoid, + a projection shortcut) under a linear squared-error output:
    one path per unit, so with BatchNorm's batch statistics held fixed the recursion is exact for its kernel and the
    shortcut's. The reference network is written out here with the statistics stopped."""
    x, _ = _data(features=6)
    target = np.random.default_rng(4).normal(size=(BATCH, 3)).astype("float32")
    spec = _spec([LayerSpec(units=5, activation="sigmoid"),
                  LayerSpec(units=4, activation="sigmoid", batch_norm=True, residual=True)],
                 loss="mse", output_activation="linear")
    models = build_models(spec, (6,), 3)
    model = models.user
    dense1, dense2 = model.get_layer("hidden_1_dense"), model.get_layer("hidden_2_dense")
    bn, shortcut, output = model.get_layer("hidden_2_bn"), model.get_layer("hidden_2_shortcut"), model.get_layer("output")
    bn.gamma.assign(np.linspace(0.5, 2.0, 4).astype("float32"))  # not the trivial γ = 1
    models, optimizer = _one_step(spec, x, target, models=models)

    def outputs():
        h1 = keras.ops.sigmoid(keras.ops.matmul(x, dense1.kernel) + dense1.bias)
        z = keras.ops.matmul(h1, dense2.kernel)
        mean, var = keras.ops.moments(z, axes=[0])
        normalised = (z - keras.ops.stop_gradient(mean)) / keras.ops.sqrt(keras.ops.stop_gradient(var) + bn.epsilon)
        a = keras.ops.sigmoid(bn.gamma * normalised + bn.beta) + keras.ops.matmul(h1, shortcut.kernel)
        return keras.ops.matmul(a, output.kernel) + output.bias

    np.testing.assert_allclose(outputs().numpy(), model(x, training=True).numpy(), rtol=1e-5, atol=1e-6)
    for variable in (dense2.kernel, shortcut.kernel, output.kernel):
        exact = _gauss_newton_diagonal(outputs, variable, 2.0 / 3)
        ours = np.asarray(optimizer.curvature(variable))
        np.testing.assert_allclose(ours, exact, rtol=2e-3, atol=1e-8, err_msg=variable.path)


def test_below_an_attention_block_the_curvature_is_the_mean_squared_per_example_gradient():
    x, y = _data(features=6)
    spec = _spec([LayerSpec(units=6, activation="relu"), LayerSpec(units=4, activation="tanh", attention=True,
                                                                 attention_tokens=2)])
    models, optimizer = _one_step(spec, x, y)
    kernel = models.user.get_layer("hidden_1_dense").kernel
    with tf.GradientTape() as tape:
        p = models.user(x)
        per_example = -keras.ops.log(keras.ops.take_along_axis(p, y[:, None], axis=1))[:, 0]
    jacobian = tape.jacobian(per_example, kernel).numpy()  # (n,) + kernel.shape
    np.testing.assert_allclose(np.asarray(optimizer.curvature(kernel)), np.mean(jacobian ** 2, axis=0),
                               rtol=2e-4, atol=1e-9)
    attention = models.user.get_layer("hidden_2_attention_query").kernel
    assert id(attention) not in optimizer._site_of  # the attention block's own weights: the "difference" estimate


@pytest.mark.slow
def test_deep_softmax_network_truncation_against_the_exact_gauss_newton_diagonal():
    """Below a softmax output the truncation drops the couplings between units (diag(p) − ppᵀ's off-diagonal and
    the cross-paths, whose contributions partly cancel): an approximation in both directions. Measured on 3×5
    sigmoid and ReLU nets (seeds 0–3): layer totals 0.46–2.7× the exact ones, median per-weight ratio
    0.55–3.4, smallest per-weight ratio 0.17 (docs/sdagd.md). Stated tolerance: totals within [0.4, 3.5]×, median
    ratio within [0.5, 6]×, no weight's curvature below 0.1× the exact one (a wrong orientation of W² or a missing
    f'² — a factor ≤ 1/16 per sigmoid layer — misses these by orders of magnitude)."""
    x, y = _data(features=6, n=BATCH)
    spec = _spec([LayerSpec(units=5, activation="sigmoid") for _ in range(3)])
    models, optimizer = _one_step(spec, x, y)
    logits_layer = models.user.get_layer("output")
    below_output = keras.Model(models.user.input, models.user.get_layer("hidden_3_act").output)

    for name in ("hidden_1_dense", "hidden_2_dense", "hidden_3_dense"):
        kernel = models.user.get_layer(name).kernel
        with tf.GradientTape() as tape:
            logits = keras.ops.matmul(below_output(x), logits_layer.kernel) + logits_layer.bias
        jacobian = tape.jacobian(logits, kernel).numpy().reshape(BATCH, 3, -1)  # (n, K, weights)
        p = keras.ops.softmax(logits).numpy()
        output_hessian = np.einsum("nk,kl->nkl", p, np.eye(3)) - np.einsum("nk,nl->nkl", p, p)
        exact = np.einsum("nkw,nkl,nlw->w", jacobian, output_hessian, jacobian) / BATCH
        ours = np.asarray(optimizer.curvature(kernel)).ravel()
        ratio = ours / exact
        assert 0.4 <= ours.sum() / exact.sum() <= 3.5, (name, ours.sum() / exact.sum())
        assert 0.5 <= np.median(ratio) <= 6 and ratio.min() >= 0.1, (name, ratio)


@pytest.mark.parametrize("kind", ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "swish", "prelu",
                                  "linear"])
def test_activation_derivatives_match_autodiff(kind):
    from vg_studio.nn.build import make_activation

    z = tf.constant(np.linspace(-4, 4, 41, dtype="float32").reshape(1, -1) + 0.013)
    layer = make_activation(kind, "act")
    with tf.GradientTape() as tape:
        tape.watch(z)
        a = layer(z)
    expected = tape.gradient(a, z).numpy()  # elementwise: the gradient of Σa is f'(z)
    np.testing.assert_allclose(np.asarray(activation_derivative(kind, z, a, layer)), expected, rtol=1e-4, atol=1e-6)


def test_the_taps_refresh_every_n_steps_and_leave_the_loss_and_the_user_model_alone():
    x, y = _data(n=4 * BATCH)
    spec = _spec([LayerSpec(units=5, activation="sigmoid") for _ in range(2)], curvature_every=3)
    models = build_models(spec, (6,), 3)
    assert models.train is not models.user
    assert not any(layer.name.startswith("sdagd") for layer in models.user.layers)
    optimizer = SDAGD(learning_rate=0.01, batch_size=BATCH, curvature_every=3)
    models.train.compile(optimizer, spec.loss, run_eagerly=True)  # the compiled step: test_sdagd.py, Trainer
    user_loss = float(np.mean(keras.losses.sparse_categorical_crossentropy(y[:BATCH], models.user(x[:BATCH]))))
    # the loss term the taps add is exactly zero: training reports the user's own loss
    assert models.train.train_on_batch(x[:BATCH], y[:BATCH]) == pytest.approx(user_loss, rel=1e-6)
    models.train.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, shuffle=False)  # 8 more steps: 9 in all
    assert float(optimizer._refreshes.numpy()) == 3.0  # steps 1, 4 and 7 (every 3)
    probes = [v for v in models.train.trainable_variables if v.path.startswith("sdagd_curvature")]
    assert probes and all(not np.any(v.numpy()) for v in probes if "refresh" not in v.path)


@pytest.mark.parametrize("compiled", [False, True])
def test_each_step_divides_by_the_gauss_newton_curvature(compiled):
    """The update itself (not only what `curvature()` reports) uses the Gauss–Newton diagonal: with a radius so
    large that μ ≈ 0 (every weight in phase II), no momentum and no rescaling, one step from the initial weights is
    −η·g/h with g the batch gradient and h the exact Gauss–Newton diagonal (`tape.jacobian`, a sigmoid hidden layer
    under a linear squared-error output, where the truncation is exact) — in an eager and in a compiled step (where
    the optimizer sees the backend's variables, not Keras's)."""
    x, _ = _data()
    target = np.random.default_rng(1).normal(size=(BATCH, 3)).astype("float32")
    spec = _spec([LayerSpec(units=5, activation="sigmoid")], loss="mse", output_activation="linear")
    models = build_models(spec, x.shape[1:], 3)
    variables = models.user.trainable_variables
    mse = _mse(models, x, target)
    with tf.GradientTape() as tape:
        loss = mse()
    gradients = [g.numpy() for g in tape.gradient(loss, variables)]
    exact = [_gauss_newton_diagonal(lambda: models.user(x), v, 2.0 / 3) for v in variables]
    before = [v.numpy() for v in variables]
    optimizer = SDAGD(learning_rate=0.01, radius=1e9, preactivation_radius=0.0, momentum=0.0,
                      curvature_scale="diagonal", radius_decay_steps=0.0, radius_warmup_steps=0.0, batch_size=BATCH)
    models.train.compile(optimizer, "mse", run_eagerly=not compiled)
    models.train.train_on_batch(x, target)
    for variable, start, gradient, h in zip(variables, before, gradients, exact):
        np.testing.assert_allclose(variable.numpy() - start, -0.01 * gradient / h, rtol=2e-3, atol=1e-9)


def test_preactivation_radius_bounds_each_units_preactivation_change():
    """preactivation_radius R_z: far from the minimum (μ ≫ h) one step moves each unit's pre-activation by R_z, RMS
    over the batch's examples (kernel part; the bias moves by R_z on its own), wherever that is tighter than R per
    weight — measured in NumPy from the layer inputs and the weight change; with a loose R_z the per-weight radius
    R binds instead (each unit's kernel step has RMS R)."""
    x, y = _data()
    spec = _spec([LayerSpec(units=5, activation="sigmoid")])
    for radius, preactivation_radius in ((1.0, 1e-3), (1e-3, 1e3)):
        models = build_models(spec, x.shape[1:], 3)
        inputs = {"hidden_1_dense": x, "output": keras.ops.convert_to_numpy(
            models.user.get_layer("hidden_1_act")(models.user.get_layer("hidden_1_dense")(x)))}
        kernels = {name: models.user.get_layer(name).kernel for name in inputs}
        before = {name: kernel.numpy() for name, kernel in kernels.items()}
        optimizer = SDAGD(learning_rate=1.0, radius=radius, preactivation_radius=preactivation_radius, momentum=0.0,
                          radius_decay_steps=0.0, radius_warmup_steps=0.0, batch_size=BATCH)
        models.train.compile(optimizer, spec.loss)
        models.train.train_on_batch(x, y)
        for name, kernel in kernels.items():
            step = kernel.numpy() - before[name]
            moved = np.sqrt(np.mean(np.square(inputs[name] @ step), axis=0))  # per unit, RMS over examples
            per_weight = np.sqrt(np.mean(np.square(step), axis=0))
            if preactivation_radius < radius:
                np.testing.assert_allclose(moved, preactivation_radius, rtol=0.02)
                assert np.all(per_weight < radius)
            else:
                np.testing.assert_allclose(per_weight, radius, rtol=0.02)
                assert np.all(moved < preactivation_radius)


@pytest.mark.parametrize("every", [None, 1])
def test_fit_ends_with_the_average_of_the_iterates_and_leaves_the_taps_alone(every):
    """With the default averaging, `fit` leaves the network at Keras's a = w_1, then a ← m^e·a + (1 − m^e)·w at
    steps 1 + e, 1 + 2e, … over its steps' weights (NumPy, from a callback; e = ema_every, default and 1), not at
    the last iterate; the taps are not averaged: after 9 steps with a refresh every 3 the flag still says that the
    next step refreshes, and it does."""
    x, y = _data(n=3 * BATCH)
    spec = _spec([LayerSpec(units=5, activation="relu") for _ in range(2)], curvature_every=3)
    models = build_models(spec, (6,), 3)
    optimizer = SDAGD(learning_rate=0.01, batch_size=BATCH, curvature_every=3,
                      **({} if every is None else {"ema_every": every}))
    config = optimizer.get_config()
    momentum, every = config["ema_momentum"], config["ema_every"]
    assert config["use_ema"] and 0 < momentum < 1 and every >= 1
    steps = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: steps.append([v.numpy().copy() for v in models.user.weights]))
    models.train.compile(optimizer, spec.loss)
    models.train.fit(x, y, batch_size=BATCH, epochs=3, verbose=0, shuffle=False, callbacks=[record])
    assert len(steps) == 9
    average = steps[0]
    for weights in steps[every::every]:
        average = [momentum ** every * a + (1 - momentum ** every) * w for a, w in zip(average, weights)]
    for final, expected, last in zip(models.user.weights, average, steps[-1]):
        np.testing.assert_allclose(final.numpy(), expected, rtol=1e-5, atol=1e-7)
        assert not np.allclose(final.numpy(), last, rtol=1e-4, atol=1e-6)
    flag = [v for v in models.train.trainable_variables if getattr(v, "curvature_refresh", False)]
    assert len(flag) == 1 and float(flag[0].numpy()) == 1.0  # steps 1, 4, 7 refreshed; step 10 will
    probes = [v for v in models.train.trainable_variables if v.path.startswith("sdagd_curvature")]
    assert all(not np.any(v.numpy()) for v in probes if v is not flag[0])
    assert float(optimizer._refreshes.numpy()) == 3.0
    models.train.train_on_batch(x[:BATCH], y[:BATCH])
    assert float(optimizer._refreshes.numpy()) == 4.0
