"""The loss on the probe batch in inference mode, for networks whose layers behave differently in training.

A BatchNormalization layer normalises each training batch by that batch's own statistics (under batches of 4, each
example by a 4-example mean) and the network in inference mode by its moving statistics; Dropout and noise layers
perturb only training. The loss Keras logs is the training-mode loss, which can scatter far above the loss the
network reaches in use — the loss rules then see a swing or a stall that is only the training mode's. Where the
probe rows' targets are known, the recorder measures the compiled loss of the network in inference mode
(`training=False`) on the probe batch, beside the unit statistics and on their time budget (`ProbeBatch`): no
device work in the training step.

The loss is the model's compiled loss (`compile(loss=...)`) on the probe targets, unweighted by samples and without
the regularisation terms (`model.losses`): what the training-mode loss of those rows would be, less its noise and
its penalties. A model with several outputs is not measured (NaN), nor one without a compiled loss.

Stored beside the records: history.h5's `/inference/probe_loss` (R,) float64 and the log's record frames' array
`probe_loss` — both absent in runs recorded without it, which readers then fill with NaN (docs/file-formats.md).
Keras is imported only where a model is measured: the history's readers do not need it.
"""

from __future__ import annotations

import logging
import math
import time
import weakref

import numpy as np

log = logging.getLogger(__name__)

UNIT_BUDGET = 50.0  # measure on the probe batch when the time since the last measurement ≥ 50 × its cost
NAME = "probe_loss"  # the dataset under /inference in history.h5 and the array in a log's record frame
GROUP = "inference"
_SIDE_MODELS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> its outputs as a side model


# ---- which networks behave differently in training -----------------------------------------------------------
def training_only_layers(model) -> list[str]:
    """The kinds of the layers that make the network compute something else in training than in inference (sorted,
    once each): normalisation by the batch's statistics (BatchNormalization, unless frozen: a BatchNormalization that
    is not trainable runs in inference mode), dropout and noise layers with a rate above 0, recurrent cells and
    attention with dropout, Keras's random augmentation layers."""
    from vg_studio.train.columns import kind_of

    try:
        layers = list(model._flatten_layers(include_self=False))
    except AttributeError:  # not a Keras layer tree
        layers = list(getattr(model, "layers", []))
    return sorted({kind_of(layer) for layer in layers if _trains_differently(layer)})


def _trains_differently(layer) -> bool:
    kinds = [cls.__name__ for cls in type(layer).__mro__]
    if any(k.endswith("BatchNormalization") for k in kinds):
        return bool(getattr(layer, "trainable", True))
    if any(k.endswith(("Dropout", "Noise")) for k in kinds):
        return _positive(getattr(layer, "rate", getattr(layer, "stddev", 1.0)))
    if any(_positive(getattr(layer, name, 0.0)) for name in ("dropout", "recurrent_dropout")):
        return True
    return kinds[0].startswith("Random") and type(layer).__module__.startswith("keras.")


def _positive(value) -> bool:
    try:
        return float(value) > 0.0
    except (TypeError, ValueError):
        return False


# ---- the measurement ----------------------------------------------------------------------------------------
class ProbeLoss:
    """The compiled loss of `model` in inference mode on the probe rows `x` with targets `y`."""

    def __init__(self, model, x, y):
        self.model, self.x, self.y = model, x, y
        self.compiled = model._compile_loss  # Keras's CompileLoss: the per-output losses and weights of compile()

    @classmethod
    def of(cls, model, x, y) -> "ProbeLoss | None":
        """None where it is not measured: no probe rows or targets, no compiled loss, a train_step of the model's
        own (what it descends need not be the compiled loss), several outputs, or a network that computes the same
        in training as in inference (its training-mode loss is the one to judge)."""
        from vg_studio.train.step_loss import keras_train_step

        if x is None or y is None or getattr(model, "_compile_loss", None) is None or not keras_train_step(model):
            return None
        outputs = getattr(model, "outputs", None)
        try:
            if (outputs is not None and len(outputs) != 1) or not training_only_layers(model):
                return None
        except Exception:  # a layer tree it cannot walk: the run is recorded without it
            log.exception("finding the layers that compute otherwise in training failed")
            return None
        y = _single(y)
        return None if y is None else cls(model, x, y)

    def measure(self) -> float:
        import keras

        prediction = _single(self._predict())
        if prediction is None:
            return math.nan
        value = self.compiled(keras.ops.convert_to_tensor(self.y), keras.ops.convert_to_tensor(prediction))
        return float(np.asarray(keras.ops.convert_to_numpy(value)))

    def _predict(self):
        """The network in inference mode: through a side model of its graph (its predict step compiled once, as
        the unit statistics' side model), or one eager call for a model without a graph."""
        import keras

        model = self.model
        if getattr(model, "_operations", None) is not None and getattr(model, "inputs", None):
            side = _SIDE_MODELS.get(model)
            if side is None:
                side = _SIDE_MODELS[model] = keras.Model(model.inputs, model.outputs)
            return side.predict_on_batch(self.x)
        return keras.ops.convert_to_numpy(model(self.x, training=False))


def _single(value):
    """The one array of a single output (a list or dict of one unwrapped); None for several."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return value[0] if len(value) == 1 else None
    return value


class ProbeBatch:
    """What is measured on the fixed probe batch at a read of the ring: the unit statistics (`units`, columns'
    UnitTaps) and the inference-mode loss (`loss`, ProbeLoss), each None where not measured. A measurement goes on
    the newest record read when the time since the last one is at least UNIT_BUDGET times what it cost (≤ 2 % of
    training time), and always with `final` (an epoch's end). The first measurement's cost is not the budget's
    measure: it traces and compiles the side models' predict steps once (a second or so, which would leave a short
    run without a second measurement before its epoch ends); the next read measures again, at its own cost."""

    def __init__(self, model, units, loss: ProbeLoss | None):
        self.model, self.units, self.loss = model, units, loss
        self._at, self._cost, self._traced = -math.inf, 0.0, False

    def due(self, final: bool) -> bool:
        if self.units is None and self.loss is None:
            return False
        return final or time.perf_counter() - self._at >= UNIT_BUDGET * self._cost

    def measure(self, record) -> None:
        started = time.perf_counter()
        sync = getattr(self.model, "jax_state_sync", None)  # JAX keeps the weights outside the variables
        if callable(sync):
            sync()
        if self.units is not None:
            try:
                record.stats.update(self.units.measure())
            except Exception:  # a model whose probe batch cannot run: keep the gradient records
                log.exception("unit statistics failed; they are left out")
                self.units = None
        if self.loss is not None:
            try:
                record.probe_loss = self.loss.measure()
            except Exception:  # targets the compiled loss cannot read: the records stay without it
                log.exception("the inference-mode loss on the probe batch failed; it is left out")
                self.loss = None
        self._cost = time.perf_counter() - started if self._traced else 0.0
        self._at, self._traced = time.perf_counter(), True


# ---- how the run directory stores it (vg_studio.train.history_file) -------------------------------------------
def write_h5(f, history) -> None:
    """history.h5's /inference/probe_loss, where any record carries one."""
    values = np.asarray(history.record_probe_loss, dtype=np.float64)
    if np.any(np.isfinite(values)):
        f.create_group(GROUP).create_dataset(NAME, data=values)


def read_h5(reader, history) -> None:
    """Fills `history.record_probe_loss` from /inference/probe_loss through history_file's strict reader (NaN for
    a run recorded without it)."""
    n = history.num_records
    group = reader.group(GROUP, required=False)
    ds = reader.members(group).get(NAME) if group is not None else None
    history.record_probe_loss = ([float(v) for v in reader.column(ds, f"{GROUP}/{NAME}", n)] if ds is not None
                                 else [math.nan] * n)


def frame_arrays(history, r: int) -> dict:
    """The record frame's array (only where measured: readers that do not know it skip it)."""
    value = history.record_probe_loss[r] if r < len(history.record_probe_loss) else math.nan
    return {NAME: np.asarray(value, dtype=np.float64)} if math.isfinite(value) else {}


def from_frame(arrays: dict) -> float:
    value = arrays.get(NAME)
    if value is None:
        return math.nan
    if value.shape != () or value.dtype.kind not in "fiu":
        raise ValueError(f"a record frame's {NAME} is not one number")
    return float(value)
