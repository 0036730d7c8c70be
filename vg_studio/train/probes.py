"""Per-variable gradient, update and weight probes computed inside the compiled training step.

`with_probes(optimizer, record_every)` returns a copy of an optimizer (`install_probes` converts one in place, for
a user's compiled model) whose `apply`, on record steps — the first step, then every `record_every` steps —
measures, for every trainable variable, from the very gradients it applies (after loss-scale unscaling, before
clipping) and from the weights just before and just after its own update:

    Σ|g|, Σg², Σ|ΔW|, Σ(ΔW)², ΣW²   and 28-bin histograms of log10|g| and log10|ΔW| (HIST_EDGES)

and writes them into one slot of a device-side ring buffer of RING_SIZE records. Nothing leaves the device during
a step: the host (`ProbeReader`) reads the ring once every few dozen steps (one sync per block of records,
`vg_studio.train.recorder`). This works on TensorFlow, JAX and PyTorch alike because Keras routes every train step
through `optimizer.apply` (on JAX via `stateless_apply`, which carries the ring as optimizer state).

Cost: with XLA (TensorFlow's and JAX's compiled steps) the five sums over a variable fuse into one pass over it,
reading the weights before the update costs nothing (XLA writes the updated weights to a fresh buffer), and the
ring write is a dynamic slice update of one slot. A variable with more than SUM_LIMIT (16,384) entries is read on
a fixed systematic sample of that many entries (`Sample`: 61 evenly spaced contiguous runs, drawn once, so
successive records compare the same entries) and its sums scaled up to the whole variable; its histograms take
every k-th entry of those read, HIST_LIMIT (2,048) per variable, each variable's share of its column's histogram
weighted by its size — a full pass of log10 and binning over millions of weights would cost as much as the update
itself. On the steps between records a `cond` skips every reduction. PyTorch runs eagerly: there the record
decision is made on the host (a tensor predicate would sync), and the weights are copied before the update only
on record steps.

JAX notes: the assignments stay outside `cond` (JAX's stateless scope allows no side effects in a branch); the
time-step probe is re-stated every step, otherwise its donated input buffer would come back as an output.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

from vg_studio import catalog

LAYER_STATS = catalog.LAYER_STATS  # the per-layer scalar statistics each record carries

# Per variable and record: Σ|g|, Σg², Σ|ΔW|, Σ(ΔW)², ΣW², then the two histograms' counts.
SUM_ABS_GRAD, SUM_SQ_GRAD, SUM_ABS_UPDATE, SUM_SQ_UPDATE, SUM_SQ_WEIGHT = range(5)
N_SUMS = 5
HIST_STATS = ("grad_log10_hist", "update_log10_hist")
HIST_EDGES = np.linspace(-12.0, 2.0, 29)  # contract: bins of log10|x|; below -12 (and 0) -> bin 0, above 2 -> last
HIST_BINS = len(HIST_EDGES) - 1
_BINS_PER_DECADE = HIST_BINS / (HIST_EDGES[-1] - HIST_EDGES[0])
N_COLUMNS = N_SUMS + 2 * HIST_BINS
RING_SIZE = 64  # records the device holds between two host reads

SUM_LIMIT = 16384  # a variable with more entries has its sums estimated on a fixed systematic sample this size
HIST_LIMIT = 2048  # entries per variable (of those read) that go into the histograms
SAMPLE_SEED = 20240607


# A sampled variable is read as this many contiguous runs, evenly spaced; a prime, so that the runs of a weight
# matrix whose rows divide the spacing do not all sit at the same columns.
SAMPLE_CHUNKS = 61


@dataclass(frozen=True)
class Sample:
    """Which entries of a variable the step reads: `chunks` contiguous runs of `run` entries, one at `offset`
    within each of `chunks` equal periods of the flattened variable — a systematic sample spread over the whole
    tensor (for a weight matrix, over its rows and, the period being no multiple of a row, its columns) that
    touches only the memory it reads (an every-k-th-entry sample would pull in most cache lines and cost as much
    as a full pass). `run == size` reads everything (exact sums)."""

    size: int
    chunks: int
    period: int
    run: int
    offset: int

    @classmethod
    def plan(cls, size: int, limit: int | None, rng: np.random.Generator) -> "Sample":
        if limit is None or size <= limit:
            return cls(size, 1, size, size, 0)
        period = size // SAMPLE_CHUNKS
        run = max(1, limit // SAMPLE_CHUNKS)
        return cls(size, SAMPLE_CHUNKS, period, run, int(rng.integers(period - run + 1)))

    @property
    def exact(self) -> bool:
        return self.run == self.size

    @property
    def count(self) -> int:
        return self.chunks * self.run

    @property
    def hist_stride(self) -> int:
        """Every hist_stride-th value read goes into the histograms (HIST_LIMIT per variable)."""
        return max(1, -(-self.count // HIST_LIMIT))

    def take(self, x):
        """The sampled entries of a tensor of this variable's shape, flat."""
        flat = ops.reshape(x, (-1,))
        if self.exact:
            return flat
        runs = ops.reshape(flat[: self.chunks * self.period], (self.chunks, self.period))
        return ops.reshape(runs[:, self.offset:self.offset + self.run], (-1,))

    def positions(self) -> np.ndarray:
        """Flat indices of the sampled entries, in the order `take` returns them."""
        if self.exact:
            return np.arange(self.size)
        starts = np.arange(self.chunks) * self.period + self.offset
        return (starts[:, None] + np.arange(self.run)[None, :]).ravel()


def is_record_step(step: int, record_every: int, first: int = 1) -> bool:
    """Records are taken at the first step — so a network broken from its initialization is diagnosed at once —
    and then every `record_every` steps."""
    return step == first or step % record_every == 0


def count_records(after: int, upto: int, record_every: int, first: int = 1) -> int:
    """How many record steps lie in (after, upto]."""
    if upto <= after:
        return 0
    n = upto // record_every - after // record_every
    if after < first <= upto and first % record_every:
        n += 1
    return n


class _ProbeMixin:
    """Mixed in front of a keras optimizer class by `with_probes` / `install_probes`."""

    vg_record_every = 1
    vg_ring_size = RING_SIZE
    vg_sum_limit = SUM_LIMIT  # None: every entry of every variable, every record
    vg_time_probe = None  # the TimeStepProbe's zero tensor, for recurrent networks (vg_studio.nn.build)
    vg_ring = None

    def build(self, variables):
        super().build(variables)
        if self.vg_ring is None:
            self._vg_build(list(variables))

    def _vg_build(self, variables):
        time_id = id(self.vg_time_probe) if self.vg_time_probe is not None else None
        self._vg_time_index = next((i for i, v in enumerate(variables) if id(v) == time_id), None)
        probed = [v for v in variables if id(v) != time_id]
        # Plain Python/NumPy attributes only: a list of Variables here would be tracked as optimizer variables.
        self.vg_paths = [v.path for v in probed]
        self.vg_sizes = np.array([int(np.prod(v.shape)) for v in probed], dtype=np.int64)
        self._vg_slot_of = {id(v): j for j, v in enumerate(probed)}
        rng = np.random.default_rng(SAMPLE_SEED)
        self.vg_samples = [Sample.plan(int(size), self.vg_sum_limit, rng) for size in self.vg_sizes]
        k = int(self.vg_ring_size)
        self.vg_ring = self.add_variable(shape=(k, max(len(probed), 1), N_COLUMNS), initializer="zeros",
                                         dtype="float32", name="vg_ring")
        self.vg_ring_step = self.add_variable(shape=(k,), initializer="zeros", dtype="int32", name="vg_ring_step")
        self.vg_records = self.add_variable(shape=(), initializer="zeros", dtype="int32", name="vg_records")
        self.vg_first_step = self.add_variable(shape=(), initializer="ones", dtype="int32", name="vg_first_step")
        self.vg_time_ring = None
        if self.vg_time_probe is not None:  # mean |dL/dx_t| per time step
            self.vg_time_ring = self.add_variable(shape=(k, self.vg_time_probe.shape[1]), initializer="zeros",
                                                  dtype="float32", name="vg_time_ring")
        report = getattr(self, "diagnostic_scalars", None)  # SDAGD's μ and phase-I share, per record
        self.vg_scalar_names = sorted(report()) if callable(report) else []
        self.vg_scalar_ring = None
        if self.vg_scalar_names:
            self.vg_scalar_ring = self.add_variable(shape=(k, len(self.vg_scalar_names)), initializer="zeros",
                                                    dtype="float32", name="vg_scalar_ring")
        self._vg_host_step = None  # torch: the host counts steps (see apply)

    def vg_start(self, first_step: int) -> None:
        """Take the first record at `first_step` (1-based, as `iterations + 1` counts), then every
        `vg_record_every` steps. Call outside the training step."""
        self.vg_first_step.assign(int(first_step))
        self._vg_host_step = None

    def vg_variables(self) -> list:
        """The probe's own optimizer variables (removed again by `remove_probes`)."""
        return [v for v in (self.vg_ring, self.vg_ring_step, self.vg_records, self.vg_first_step,
                            self.vg_time_ring, self.vg_scalar_ring) if v is not None]

    # ---- the step -----------------------------------------------------------------------------------------
    def apply(self, grads, trainable_variables=None):
        if not self.built and trainable_variables is not None:
            with keras.name_scope(self.name, caller=self):
                self.build(list(trainable_variables))
            self.built = True
        variables = self._trainable_variables if trainable_variables is None else list(trainable_variables)
        grads, variables = list(grads), list(variables)
        step = ops.cast(self.iterations, "int32") + 1  # this step, 1-based (apply increments iterations)
        every = int(self.vg_record_every)
        eager = keras.backend.backend() == "torch"
        if eager:  # decide on the host: a tensor predicate would sync with the device every step
            if self._vg_host_step is None:  # once: (step so far, first record step)
                self._vg_host_step = (int(ops.convert_to_numpy(self.iterations)),
                                      int(ops.convert_to_numpy(self.vg_first_step)))
            self._vg_host_step = (self._vg_host_step[0] + 1, self._vg_host_step[1])
            record = is_record_step(*self._vg_host_step[:1], every, self._vg_host_step[1])
            is_record = ops.convert_to_tensor(record)
        else:
            record = None
            is_record = ops.logical_or(ops.equal(step, self.vg_first_step), ops.equal(ops.mod(step, every), 0))

        time_grad = None
        if self._vg_time_index is not None and self.vg_time_probe is not None:
            position = next((i for i, v in enumerate(variables) if v is self.vg_time_probe), None)
            if position is not None:
                time_grad = grads.pop(position)  # the probe stays zero: it is measured, never trained
                variables.pop(position)
        if eager:
            before = [self._vg_read(v) if record else None for v in variables]
        elif every == 1:
            before = [self._vg_read(v) for v in variables]
        else:  # the copies only on record steps
            before = ops.cond(is_record, lambda: [self._vg_read(v) for v in variables],
                              lambda: [ops.zeros((self._vg_count(v),), "float32") for v in variables])
        with _after(before):
            super().apply(grads, variables)
        after = [self._vg_read(v, copy=False) for v in variables]
        scale = self.loss_scale_factor

        def measure():
            return self._vg_measure(grads, variables, before, after, scale, time_grad)

        if eager:
            if not record:
                self._vg_restate_time_probe(time_grad)
                return
            rows = measure()
        elif every == 1:
            rows = measure()
        else:
            rows = ops.cond(is_record, measure, lambda: self._vg_zero_rows(time_grad))
        slot = ops.mod(ops.convert_to_tensor(self.vg_records), int(self.vg_ring_size))
        _write_slot(self.vg_ring, slot, rows[0])
        _write_slot(self.vg_ring_step, slot, ops.where(is_record, step, ops.zeros_like(step)))
        if self.vg_time_ring is not None:
            _write_slot(self.vg_time_ring, slot, rows[1])
        if self.vg_scalar_ring is not None:
            _write_slot(self.vg_scalar_ring, slot, rows[2])
        self.vg_records.assign(self.vg_records + ops.cast(is_record, "int32"))
        self._vg_restate_time_probe(time_grad)

    def _vg_count(self, variable) -> int:
        j = self._vg_slot_of.get(id(variable))
        return self.vg_samples[j].count if j is not None else int(np.prod(variable.shape))

    def _vg_restate_time_probe(self, time_grad):
        if time_grad is not None:
            # Re-state p = 0 as this step's value: on JAX an untouched variable would hand its donated input
            # buffer back as an output ("donate the same buffer twice" on the next step).
            self.vg_time_probe.assign(ops.zeros(self.vg_time_probe.shape, self.vg_time_probe.dtype))

    def _vg_zero_rows(self, time_grad):
        rows = [ops.zeros(self.vg_ring.shape[1:], "float32")]
        rows.append(ops.zeros(self.vg_time_ring.shape[1:], "float32") if self.vg_time_ring is not None else
                    ops.zeros((1,), "float32"))
        rows.append(ops.zeros(self.vg_scalar_ring.shape[1:], "float32") if self.vg_scalar_ring is not None else
                    ops.zeros((1,), "float32"))
        return tuple(rows)

    def _vg_read(self, variable, copy: bool = True):
        """The sampled entries of `variable` now, flat float32 (`copy`: a copy the update will not change)."""
        sample = self.vg_samples[self._vg_slot_of[id(variable)]] if id(variable) in self._vg_slot_of else None
        flat = sample.take(variable.value) if sample is not None else ops.reshape(variable.value, (-1,))
        return ops.copy(flat) if copy else flat

    def _vg_measure(self, grads, variables, before, after, scale, time_grad):
        """Everything a record needs, as (ring row (V, N_COLUMNS), time-step row, optimizer scalars).

        Five sums per variable, then one binning and one bincount for every histogram of every variable (their
        samples concatenated): on TensorFlow's CPU kernels per-operation overhead, not arithmetic, is the cost."""
        n = self.vg_ring.shape[1]
        sums = [None] * n
        pieces, offsets = [], []
        for g, v, w0, w1 in zip(grads, variables, before, after):
            j = self._vg_slot_of.get(id(v))
            if j is None:
                continue
            sample = self.vg_samples[j]
            if g is None:
                g = ops.zeros((sample.count,), "float32")
            else:
                g = ops.cast(sample.take(ops.convert_to_tensor(g)), "float32")
            if scale is not None:
                g = g / scale
            w1 = ops.cast(w1, "float32")
            d = w1 - ops.cast(w0, "float32")
            sums[j] = ops.stack([ops.sum(ops.abs(g)), ops.sum(ops.square(g)), ops.sum(ops.abs(d)),
                                 ops.sum(ops.square(d)), ops.sum(ops.square(w1))])
            if not sample.exact:  # an estimate of the whole variable's sums
                sums[j] = sums[j] * (sample.size / sample.count)
            length = -(-sample.count // sample.hist_stride)
            for h, x in enumerate((g, d)):
                x = x[::sample.hist_stride] if sample.hist_stride > 1 else x
                pieces.append(ops.reshape(x, (length,)))  # a static length, whatever the gradient's shape said
                offsets.append(np.full(length, (2 * j + h) * HIST_BINS, dtype=np.int32))
        zero = ops.zeros((N_SUMS,), "float32")
        sums = ops.stack([s if s is not None else zero for s in sums])
        if pieces:
            counts = _bin_counts(ops.concatenate(pieces), np.concatenate(offsets), n * 2 * HIST_BINS)
        else:
            counts = ops.zeros((n * 2 * HIST_BINS,), "float32")
        row = ops.concatenate([sums, ops.reshape(counts, (n, 2 * HIST_BINS))], axis=1)
        time_row = self._vg_time_row(time_grad, scale) if self.vg_time_ring is not None else ops.zeros((1,), "float32")
        if self.vg_scalar_ring is not None:
            values = self.diagnostic_scalars()
            scalar_row = ops.stack([ops.cast(values[k], "float32") for k in self.vg_scalar_names])
        else:
            scalar_row = ops.zeros((1,), "float32")
        return row, time_row, scalar_row

    def _vg_time_row(self, time_grad, scale):
        if time_grad is None:
            return ops.zeros(self.vg_time_ring.shape[1:], "float32")
        g = ops.abs(ops.cast(time_grad, "float32"))
        if scale is not None:
            g = g / scale
        per_example = ops.sum(g, axis=tuple(range(2, len(g.shape))))  # (batch rows, steps)
        used = ops.maximum(ops.sum(ops.cast(ops.sum(per_example, axis=1) > 0, "float32")), 1.0)
        features = float(np.prod(g.shape[2:]))
        return ops.sum(per_example, axis=0) / used / features


def _write_slot(ring, slot, row) -> None:
    """ring[slot] = row, in place where the backend can (TensorFlow: a scatter into the resource, instead of
    XLA's dynamic-update-slice, which TensorFlow's CPU runtime compiles on demand at every call)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        ring.value.scatter_nd_update(tf.reshape(tf.cast(slot, tf.int32), (1, 1)), ops.expand_dims(row, 0))
        return
    start = (slot,) + (0,) * (len(ring.shape) - 1)
    ring.assign(ops.slice_update(ops.convert_to_tensor(ring), start, ops.expand_dims(ops.cast(row, ring.dtype), 0)))


def _after(tensors):
    """TensorFlow: run the update after the reads of `tensors`. A read aliases the variable's buffer; were the
    in-place update scheduled first, TensorFlow would copy the whole buffer to keep the read's value."""
    if keras.backend.backend() != "tensorflow":
        return contextlib.nullcontext()
    import tensorflow as tf

    return tf.control_dependencies([t for t in tensors if t is not None])


def _bin_counts(x, offsets: np.ndarray, n_bins: int):
    """Histogram counts of log10|x| (HIST_EDGES): entry i goes to bin offsets[i] + its bin (0 and tiny values ->
    the first bin, huge values and inf -> the last); NaN entries are counted nowhere."""
    nan = ops.isnan(x)
    magnitude = ops.where(nan, ops.zeros_like(x), ops.abs(x))
    position = (ops.log10(ops.maximum(magnitude, 1e-30)) - float(HIST_EDGES[0])) * float(_BINS_PER_DECADE)
    ids = ops.cast(ops.clip(ops.floor(position), 0.0, float(HIST_BINS - 1)), "int32") + offsets
    ids = ops.where(nan, n_bins, ids)  # one bin past the end, dropped
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.math.bincount(ids, minlength=n_bins, maxlength=n_bins, dtype=tf.float32)
    if backend == "jax":
        import jax.numpy as jnp

        return jnp.bincount(ids, length=n_bins + 1)[:n_bins].astype("float32")
    if backend == "torch":
        import torch

        return torch.bincount(ids, minlength=n_bins + 1)[:n_bins].to(torch.float32)
    return ops.segment_sum(ops.ones_like(x), ids, num_segments=n_bins + 1)[:n_bins]


@functools.lru_cache(maxsize=None)
def _probed_class(cls):
    return type(f"Probed{cls.__name__}", (_ProbeMixin, cls), {"__module__": __name__})


def with_probes(optimizer: keras.optimizers.Optimizer, record_every: int = 1, time_probe=None,
                ring_size: int = RING_SIZE) -> keras.optimizers.Optimizer:
    """A fresh optimizer of the same class and configuration (rebuilt from its config, so whatever the optimizer
    adds at build time is kept) that also records every `record_every` steps; `time_probe` is a TimeStepProbe
    layer whose gradient gives the per-time-step probe."""
    probed = optimizer if isinstance(optimizer, _ProbeMixin) else _probed_class(type(optimizer)).from_config(
        optimizer.get_config())
    probed.vg_record_every = int(record_every)
    probed.vg_ring_size = int(ring_size)
    probed.vg_time_probe = time_probe.probe if time_probe is not None else None
    return probed


def install_probes(optimizer: keras.optimizers.Optimizer, variables, record_every: int,
                   ring_size: int = RING_SIZE, time_probe=None) -> keras.optimizers.Optimizer:
    """Turn a user's (compiled, possibly already trained) optimizer into a probed one in place: same object, same
    slots and state; the probe adds its own optimizer variables. Undo with `remove_probes`. `time_probe`: a
    TimeStepProbe layer of the training graph whose gradient gives the per-time-step probe."""
    if isinstance(optimizer, _ProbeMixin):
        optimizer.vg_record_every = int(record_every)
        return optimizer
    original = type(optimizer)
    optimizer.__class__ = _probed_class(original)
    optimizer.vg_original_class = original
    optimizer.vg_record_every = int(record_every)
    optimizer.vg_ring_size = int(ring_size)
    optimizer.vg_time_probe = time_probe.probe if time_probe is not None else None
    if optimizer.built:
        optimizer._vg_build(list(optimizer._trainable_variables))
    else:
        optimizer.build(list(variables))
    return optimizer


def remove_probes(optimizer) -> None:
    """Give the optimizer back its own class and variables (so `model.save` writes a plain Keras optimizer)."""
    if not isinstance(optimizer, _ProbeMixin):
        return
    for variable in optimizer.vg_variables():
        optimizer._untrack_variable(variable)
    optimizer.vg_ring = optimizer.vg_ring_step = optimizer.vg_records = optimizer.vg_first_step = None
    optimizer.vg_time_ring = optimizer.vg_scalar_ring = None
    optimizer.__class__ = getattr(optimizer, "vg_original_class", type(optimizer).__mro__[2])


def probed_optimizer(optimizer):
    """The optimizer whose `apply` sees unscaled gradients: a LossScaleOptimizer's inner one."""
    inner = getattr(optimizer, "inner_optimizer", None)
    return inner if inner is not None else optimizer


# ---- the host side -----------------------------------------------------------------------------------------
@dataclass
class RawRecord:
    """One record as the ring holds it: per probed variable (V rows)."""

    step: int
    sums: np.ndarray  # (V, N_SUMS)
    hist: np.ndarray  # (V, 2, HIST_BINS) counts
    time_grad: np.ndarray | None = None
    scalars: dict = field(default_factory=dict)


class ProbeReader:
    """Reads the ring buffer: the records written since the previous read, oldest first."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.last_step = 0

    def read(self) -> list[RawRecord]:
        opt = self.optimizer
        steps = np.asarray(ops.convert_to_numpy(opt.vg_ring_step)).astype(np.int64)
        fresh = np.flatnonzero(steps > self.last_step)
        if fresh.size == 0:
            return []
        ring = np.array(ops.convert_to_numpy(opt.vg_ring), dtype=np.float64)  # a copy: torch shares memory
        times = np.array(ops.convert_to_numpy(opt.vg_time_ring), dtype=np.float64) if opt.vg_time_ring is not None \
            else None
        scalars = np.array(ops.convert_to_numpy(opt.vg_scalar_ring), dtype=np.float64) \
            if opt.vg_scalar_ring is not None else None
        out = []
        for slot in fresh[np.argsort(steps[fresh])]:
            row = ring[slot]
            out.append(RawRecord(
                int(steps[slot]), row[:, :N_SUMS], row[:, N_SUMS:].reshape(-1, 2, HIST_BINS),
                times[slot] if times is not None else None,
                {name: float(scalars[slot, i]) for i, name in enumerate(opt.vg_scalar_names)}
                if scalars is not None else {}))
        self.last_step = max(self.last_step, int(steps[fresh].max()))
        return out


def column_stats(raw: RawRecord, columns: list, sizes: np.ndarray) -> dict:
    """Per-column statistics of one record: LAYER_STATS (unit statistics NaN; the recorder adds them) and the two
    (L, HIST_BINS) histograms, each row the estimated fraction of the column's entries per bin."""
    n = len(columns)
    out = {name: np.full(n, np.nan) for name in LAYER_STATS}
    hists = {name: np.full((n, HIST_BINS), np.nan) for name in HIST_STATS}
    for c, ids in enumerate(columns):
        ids = np.asarray(ids, dtype=int)
        if ids.size == 0:
            continue
        s = raw.sums[ids].sum(axis=0)
        count = float(sizes[ids].sum())
        out["grad_mean_abs"][c] = s[SUM_ABS_GRAD] / count
        out["grad_norm"][c] = np.sqrt(s[SUM_SQ_GRAD])
        out["weight_norm"][c] = weight_norm = np.sqrt(s[SUM_SQ_WEIGHT])
        out["update_mean_abs"][c] = s[SUM_ABS_UPDATE] / count
        with np.errstate(invalid="ignore", over="ignore"):  # an exploding run's inf/inf is NaN, said elsewhere
            out["update_ratio"][c] = np.sqrt(s[SUM_SQ_UPDATE]) / weight_norm if weight_norm > 0 else np.nan
        for h, name in enumerate(HIST_STATS):
            counts = raw.hist[ids, h]  # (variables, bins)
            seen = counts.sum(axis=1)
            used = seen > 0
            if not used.any():
                continue
            shares = counts[used] / seen[used, None]
            hists[name][c] = (shares * sizes[ids][used, None]).sum(axis=0) / sizes[ids][used].sum()
    out.update(hists)
    return out
