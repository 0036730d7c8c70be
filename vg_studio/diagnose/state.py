"""What the rules read: the facts of a run (`RunFacts`: its layer columns, their kinds and activations, the loss and
optimizer, the number of classes, the step budget) and the running values the engine keeps up to date record by
record (`RunState`: the first steps' baseline, short windows in steps, each column's latest unit statistics, the
losses of the batches between records).

Every window is measured in training steps, never in records, so a rule behaves the same whatever `record_every`
is. Nothing here re-reads the history: each record updates a few values, so a judgement costs the same at step 10
and step 100 000.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from vg_studio import catalog
from vg_studio.diagnose.findings import layer_label
from vg_studio.diagnose.inference_loss import InferenceLoss
from vg_studio.spec import DiagnosticsSpec

SPARSE_GRADIENT_KINDS = ("embedding",)  # only the rows of the tokens in the batch get a gradient
UNIT_STATS = ("dead_fraction", "saturated_fraction")


def is_main_kind(kind: str) -> bool:
    """A layer that transforms the signal with its own weights (Dense, Conv, recurrent, attention, embedding…),
    as opposed to a normalization layer's scale and shift."""
    return "normalization" not in str(kind)


@dataclass(frozen=True)
class MeasuredGuess:
    """The loss of the best constant prediction on the probe rows' targets (`vg_studio.diagnose.guessing`)."""

    level: float
    se: float  # its standard error over the rows
    words: str  # what is guessed: "the label prior", "the targets' mean"…


@dataclass(frozen=True)
class RunFacts:
    """A run as the rules see it. `spec` is None for a user's own Keras model: the rules do not need it, and the
    remedies then come as advice text instead of spec edits."""

    layer_names: tuple
    activations: tuple
    layer_kinds: tuple
    layer_units: tuple
    labels: tuple  # the columns as the user sees them: h1 … out, or Keras names
    main: tuple  # columns of layers with their own weights (not normalization)
    first: int  # the first main column with a dense gradient: the "first layer" of the ratio
    last: int  # the output layer
    unit_layers: tuple  # columns whose unit statistics are judged: all but the output
    num_classes: int | None
    loss_name: str
    spec: object = None
    optimizer: str | None = None  # catalog name of a user's optimizer (model.json), None when unknown
    learning_rate: float | None = None
    budget_steps: int | None = None  # epochs × steps per epoch the run was started for, when known
    steps_per_epoch: int | None = None
    # a loss summed over several outputs or weighted: Σ wᵢ ln(kᵢ) (NaN: no known scale); None for a single output
    summed_chance: float | None = None
    # optimizers that step the layers (model.json's layer table): two or more each descend their own objective (a
    # GAN's players), and the one loss logged is their sum, which need not fall
    objectives: int = 1
    # the loss of the best constant prediction, measured on the probe rows' targets (model.json's "guessing"), with
    # its standard error and what was guessed ("the label prior"); None where not measured
    measured_chance: MeasuredGuess | None = None

    @property
    def chance_loss(self) -> float | None:
        """The loss of guessing: of the best constant prediction where it was measured on the targets (the label
        prior's entropy, the targets' variance…), else of a uniform guess (`uniform_loss`)."""
        return self.measured_chance.level if self.measured_chance is not None else self.uniform_loss

    @property
    def uniform_loss(self) -> float | None:
        """The loss of guessing uniformly (cross-entropy with known classes; summed over a model's outputs with their
        loss weights), else None: what an untrained network with small outputs costs, whatever the labels' prior —
        the scale against which a loss is "far above guessing"."""
        if self.summed_chance is not None:
            return None if math.isnan(self.summed_chance) else self.summed_chance
        if self.num_classes and self.num_classes >= 2 and is_crossentropy(self.loss_name):
            return math.log(self.num_classes)
        return None

    @property
    def guessing_words(self) -> str:
        """What the loss of guessing (`chance_loss`) is taken over: "the label prior", "among 10 classes"…"""
        return self.measured_chance.words if self.measured_chance is not None else self.uniform_words

    @property
    def uniform_words(self) -> str:
        """What the uniform guess is taken over: "among 10 classes", or each output's, with the loss weights."""
        if self.summed_chance is not None:
            return "on every output, weighted as compiled"
        width = self.layer_units[self.last] if len(self.layer_units) > self.last else None
        if is_binary(self.loss_name) and width and int(width) > 1:
            return f"on each of {int(width)} yes/no outputs"
        return f"among {self.num_classes} classes"

    def learning_from(self, loss: float) -> float:
        """Where learning is counted from: `loss` (the first), or the best constant's loss where it was measured and
        is lower — falling to the label prior or the targets' mean is the output's bias learning, quick at any rate,
        and says nothing of whether the network learned from its input."""
        return min(loss, self.measured_chance.level) if self.measured_chance is not None else loss

    def at_guessing(self, loss: float, band: float) -> bool:
        """The loss is that of guessing: within `band` of the uniform guess's; where the best constant was measured,
        anywhere from it (less twice its standard error) up to the uniform guess's — an output that learns nothing
        but its bias falls from the one to the other."""
        chance = self.chance_loss
        if chance is None or not math.isfinite(loss):
            return False
        measured = self.measured_chance
        if measured is None:
            return abs(loss - chance) <= band * chance
        top = max(chance, self.uniform_loss or 0.0)
        spread = 2.0 * measured.se
        return chance * (1.0 - band) - spread <= loss <= top * (1.0 + band) + (spread if top == chance else 0.0)

    def label(self, indices) -> str:
        return join([self.labels[i] for i in indices])

    def recurrent(self) -> list[int]:
        return [i for i, kind in enumerate(self.layer_kinds) if kind in catalog.RECURRENT_KINDS]

    @classmethod
    def build(cls, layer_names, activations, spec=None, num_classes=None, *, layer_kinds=None, layer_units=None,
              loss=None, optimizer=None, learning_rate=None, budget_steps=None, steps_per_epoch=None,
              summed_chance=None, objectives=1, measured_chance=None) -> "RunFacts":
        names = [str(n) for n in layer_names]
        n = len(names)
        activations = [str(a) for a in activations] + ["linear"] * (n - len(activations))
        if layer_kinds is None or len(layer_kinds) != n:
            layer_kinds = _spec_kinds(spec, n)
        kinds = [str(k) for k in layer_kinds]
        units = list(layer_units) if layer_units is not None else []
        main = [i for i, kind in enumerate(kinds) if is_main_kind(kind)] or list(range(n))
        last = main[-1]
        loss_name = str(loss or "")
        if num_classes is None and is_crossentropy(loss_name) and len(units) == n:
            # a user's model: the classes are the output layer's width; a binary cross-entropy is the mean over
            # yes/no outputs (one sigmoid unit, a multi-label head, an autoencoder's pixels): two classes each
            num_classes = 2 if is_binary(loss_name) else max(2, int(units[last])) if units[last] else None
        dense_first = [i for i in main if kinds[i] not in SPARSE_GRADIENT_KINDS and i != last]
        return cls(tuple(names), tuple(activations), tuple(kinds), tuple(units),
                   tuple(layer_label(name, spec is not None) for name in names), tuple(main),
                   dense_first[0] if dense_first else main[0], last, tuple(i for i in range(n) if i != last),
                   num_classes, loss_name, spec, optimizer, learning_rate,
                   int(budget_steps) if budget_steps else None, int(steps_per_epoch) if steps_per_epoch else None,
                   summed_chance, max(1, int(objectives)), measured_chance)


def is_crossentropy(loss_name: str) -> bool:
    """A cross-entropy whose loss of guessing is ln(classes) (a focal one weighs it down by an unknown factor)."""
    name = str(loss_name).lower().replace("_", "")
    return "crossentropy" in name and "focal" not in name


def is_binary(loss_name: str) -> bool:
    """Binary cross-entropy: the mean over sigmoid outputs of each one's yes/no loss, ln 2 at guessing."""
    return "binarycrossentropy" in str(loss_name).lower().replace("_", "")


def depth_gradients(grad_mean_abs: np.ndarray, kernel_grad_mean_abs: np.ndarray | None) -> np.ndarray:
    """Each column's mean |gradient| as the depth comparison reads it (a record's (L,) or a history's (R, L)): over
    its weight matrices (kernel_grad_mean_abs; the checks of a vanishing gradient compare kernels), over all its
    weights where that is not measured or a run was recorded before the statistic existed."""
    if kernel_grad_mean_abs is None or np.shape(kernel_grad_mean_abs) != np.shape(grad_mean_abs):
        return grad_mean_abs
    return np.where(np.isfinite(kernel_grad_mean_abs), kernel_grad_mean_abs, grad_mean_abs)


class Window:
    """The values of the last `steps` training steps (at least the latest one)."""

    def __init__(self, steps: float):
        self.steps = max(0.0, float(steps))
        self.items: deque = deque()

    def add(self, step: int, value) -> None:
        self.items.append((step, value))
        while len(self.items) > 1 and step - self.items[0][0] >= self.steps:
            self.items.popleft()

    def span(self) -> int:
        return self.items[-1][0] - self.items[0][0] if self.items else 0

    def values(self) -> list:
        return [v for _, v in self.items]

    def since(self, now: int, steps: float) -> list:
        """The values of the last `steps` steps up to step `now`."""
        return [v for s, v in self.items if now - s < steps]

    def median(self):
        with warnings.catch_warnings():  # a column without any finite value stays NaN, silently
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(np.asarray(self.values(), dtype=np.float64), axis=0)


class Since:
    """For each condition, the step of the record since which it has held at every record."""

    def __init__(self):
        self.start: dict = {}

    def held(self, name: str, condition: bool, step: int) -> int | None:
        """Steps the condition has held (0 at its first record), or None when it does not hold now."""
        if not condition:
            self.start.pop(name, None)
            return None
        return step - self.start.setdefault(name, step)


@dataclass
class RunState:
    """The running values every rule may read; the engine updates them before the rules judge a record."""

    config: DiagnosticsSpec
    step: int = 0
    epoch: int = 0
    loss: float = math.nan
    stats: dict = field(default_factory=dict)  # this record's per-column statistics
    time_grad: np.ndarray | None = None  # recurrent networks: this record's mean |dL/dx_t| per input time step
    first_loss: float | None = None
    first_grad: np.ndarray | None = None  # the first finite record's mean |g| per column
    first_step: int = 0
    baseline: list = field(default_factory=list)  # grad_norm rows of the first baseline_steps steps
    at_chance: bool = True  # every loss so far at the loss of guessing (RunFacts.at_guessing)
    units_last: dict = field(default_factory=dict)  # unit statistic -> each column's latest measured value
    units_measured: set = field(default_factory=set)  # the unit statistics measured at this record
    since: Since = field(default_factory=Since)
    grad_window: Window = None  # depth_gradients: over the kernels
    weight_grad_window: Window = None  # grad_mean_abs: over all the weights, biases included
    update_window: Window = None  # each column's update ratio, for the evidence of several rules
    losses: deque = field(default_factory=deque)  # (step, recorded loss) spanning the last plateau_steps steps
    # (step, loss of a batch) where the records carry each batch's own loss, else (step, mean loss of the batches
    # since the previous record in its epoch)
    batch_losses: Window = None
    early_losses: list = field(default_factory=list)  # those of the first baseline_steps steps
    # the mean loss of the batches since the previous record (the recorded loss where it cannot be recovered)
    batch_loss: float = math.nan
    per_batch: bool = False  # the records carry each batch's own loss (the means above are not recovered)
    epoch_losses: deque = None
    inference: InferenceLoss = None  # the loss on the probe batch in inference mode, where the records carry it
    active: dict = field(default_factory=dict)  # finding kind -> whether its latest judgement held (engine's)
    records: int = 0  # finite records taken in
    # the first step of the epoch since whose start no layer's weights have moved at any record (None while some
    # moves, or until an epoch starts after they stopped): from it on, every recorded loss is of still weights
    still_from: int | None = None
    _epoch_start: dict = field(default_factory=dict)
    _previous: tuple | None = None  # (step, epoch, running mean) of the previous finite record

    def __post_init__(self):
        c = self.config
        self.grad_window = Window(c.vanishing_window_steps)
        self.weight_grad_window = Window(c.vanishing_window_steps)
        self.update_window = Window(max(c.flat_steps, c.exploding_window_steps))
        self.batch_losses = Window(c.oscillation_window_steps)
        self.epoch_losses = deque(maxlen=max(2, int(c.plateau_epochs)))
        self.inference = InferenceLoss(max(c.oscillation_window_steps, c.plateau_steps))

    def update(self, record, facts: RunFacts, finite: bool) -> None:
        """Take in one record (the engine calls this before the rules judge it)."""
        c = self.config
        self.step, self.epoch = int(record.step), int(record.epoch)
        self.loss = float(record.loss)
        self.stats = {k: np.asarray(v, dtype=np.float64) for k, v in record.stats.items()
                      if k != "steps" and np.ndim(v) == 1}
        self.units_measured = set()
        self.time_grad = getattr(record, "time_grad", None)
        if not finite or "grad_mean_abs" not in self.stats or "grad_norm" not in self.stats:
            return
        grads = depth_gradients(self.stats["grad_mean_abs"], self.stats.get("kernel_grad_mean_abs"))
        if self.first_loss is None:
            self.first_loss, self.first_grad, self.first_step = self.loss, grads, self.step
        self.records += 1
        if not self.baseline or self.step <= c.baseline_steps:
            self.baseline.append(self.stats["grad_norm"])
        self.at_chance = self.at_chance and facts.at_guessing(self.loss, c.vanishing_chance_band)
        self.grad_window.add(self.step, grads)
        self.weight_grad_window.add(self.step, self.stats["grad_mean_abs"])
        update = self.stats.get("update_ratio")
        if update is not None and len(update) == len(facts.layer_names):
            self.update_window.add(self.step, update)
        self._measure_units(facts)
        self.losses.append((self.step, self.loss))
        while len(self.losses) > 2 and self.step - self.losses[1][0] >= c.plateau_steps:
            self.losses.popleft()
        self.batch_loss = self.loss
        self._batch_loss(facts, getattr(record, "batch_losses", ()))
        self._track_still_weights(update if update is not None and len(update) == len(facts.layer_names) else None)
        self.inference.add(self.step, getattr(record, "probe_loss", math.nan))

    def _track_still_weights(self, update) -> None:
        """Keep `still_from`. The recorded loss is Keras's running mean since the epoch began, so where the weights
        stopped within an epoch its records still average in the batches before: they are of still weights only
        from the next epoch's start. A column not measured at a record (NaN) neither breaks nor extends the streak."""
        measured = update[np.isfinite(update)] if update is not None else np.empty(0)
        if measured.size and self.since.held("no_layer_moves", bool(np.all(measured < self.config.flat_update_ratio)),
                                             self.step) is None:
            self.still_from = None
            return
        stopped = self.since.start.get("no_layer_moves")
        epoch_start = self._epoch_start.get(self.epoch)
        epoch_start = self.step if epoch_start is None else epoch_start
        if self.still_from is None and stopped is not None and epoch_start >= stopped:
            self.still_from = epoch_start

    def _measure_units(self, facts: RunFacts) -> None:
        """Unit statistics are measured on a probe batch now and then (NaN in the records between): keep each
        column's latest measurement."""
        for stat in UNIT_STATS:
            values = self.stats.get(stat)
            if values is None or len(values) != len(facts.layer_names) or not np.any(np.isfinite(values)):
                continue
            last = self.units_last.get(stat)
            self.units_last[stat] = values if last is None else np.where(np.isfinite(values), values, last)
            self.units_measured.add(stat)

    def _batch_loss(self, facts: RunFacts, batches=()) -> None:
        """Where the record carries its batches' own losses (`batches`: ((step, loss), …) since the previous
        record), each of them. Otherwise the recorded loss is Keras's running mean since the epoch began; with the
        epoch's first step known, the mean over the batches since the previous record is
        (n_k m_k - n_j m_j) / (n_k - n_j), and at the epoch's first record, m_k itself."""
        start = self._epoch_start.get(self.epoch)
        if start is None:
            spe = facts.steps_per_epoch
            if spe and (self.step - 1) // spe == self.epoch:  # steps counted from the first epoch's first step
                start = self.step - (self.step - 1) % spe
            elif self._previous is None or self._previous[1] != self.epoch:
                start = self.step  # the epoch's first record: taken as its first step
            self._epoch_start[self.epoch] = start
        n = self.step - start + 1
        previous = self._previous
        self._previous = (self.step, self.epoch, self.loss)
        if batches:
            self._add_batches(batches)
            return
        if n < 1:
            return
        if previous is None or previous[1] != self.epoch or previous[0] < start:
            # the epoch's first record, at its n-th step: the running mean is the mean of its first n batches (a
            # record every other step falls on an epoch's second step, and those batches are the ones that spike)
            self._add_batch_loss(self.loss)
            return
        done = previous[0] - start + 1
        if n > done:
            self._add_batch_loss((n * self.loss - done * previous[2]) / (n - done))

    def epoch_tail(self, epoch: int, loss: float, facts: RunFacts, batches=()) -> None:
        """At an epoch's end: its batches after its last record — each one's own loss where the run kept them
        (`batches`), else their mean from the epoch's mean loss (the running mean's last value): records every
        few steps skip the last batches of most epochs, and the next epoch's running mean starts afresh. That needs
        the epoch's length (steps_per_epoch)."""
        if batches or self.per_batch:
            self._add_batches(batches)
            return
        spe, start, previous = facts.steps_per_epoch, self._epoch_start.get(epoch), self._previous
        if not spe or start is None or previous is None or previous[1] != epoch or not math.isfinite(loss):
            return
        done = previous[0] - start + 1
        if 0 < done < spe:
            self._add_batch_loss((spe * loss - done * previous[2]) / (spe - done), step=start + int(spe) - 1)

    def _add_batches(self, batches) -> None:
        """Each batch's own loss into the windows; `batch_loss` is their mean (the loss since the previous record,
        as the running means give it where the batches are not kept)."""
        self.per_batch = True
        for step, value in batches:
            self._add_batch_loss(float(value), int(step))
        if batches:
            self.batch_loss = float(np.mean([float(v) for _, v in batches]))

    def _add_batch_loss(self, value: float, step: int | None = None) -> None:
        step = self.step if step is None else step
        self.batch_loss = value
        self.batch_losses.add(step, value)
        if step - self.first_step < self.config.baseline_steps:
            self.early_losses.append(value)

    # ---- questions the rules ask ------------------------------------------------------------------------
    def unit_hits(self, facts: RunFacts, stat: str, limit: float) -> list[int]:
        """Columns whose latest measured `stat` is at or above `limit`."""
        values = self.units_last.get(stat)
        if values is None:
            return []
        return [i for i in facts.unit_layers if np.isfinite(values[i]) and values[i] >= limit]

    def held_units(self, facts: RunFacts, stat: str, limit: float):
        """Judged at the records where `stat` was measured (None between: those neither break nor extend a
        streak): (columns at or above `limit`, steps held, the values, the worst column, whether the streak has
        held for unit_steps) while some column is at or above `limit`, else False. A streak shorter than unit_steps
        waits to see whether it lasts — one the run's end cuts short holds at the end (the units are what the last
        probe measured)."""
        if stat not in self.units_measured:
            return None
        hits = self.unit_hits(facts, stat, limit)
        held = self.since.held(stat, bool(hits), self.step)
        if held is None:
            return False
        values = self.units_last[stat]
        return hits, held, values, max(hits, key=lambda i: values[i]), held >= self.config.unit_steps

    def output_moves(self, facts: RunFacts) -> bool:
        """Whether the output layer's weights move at this record (an update ratio of at least flat_update_ratio, or
        none measured yet). Where they do not, nothing learns whatever the gradients do: a gradient's decay, through
        depth or through time, is then no finding of its own — the learning rate is."""
        upd = self.stats.get("update_ratio")
        if upd is None or len(upd) <= facts.last or not np.isfinite(upd[facts.last]):
            return True
        return bool(upd[facts.last] >= self.config.flat_update_ratio)

    def no_layer_moves(self, facts: RunFacts) -> bool:
        """Every column's median update ratio over the last steps is below flat_update_ratio: the weights are frozen
        (a learning rate of 0, or a schedule decayed to ~0), so the loss changes only with the batch."""
        upd = self.median_update_ratio()
        return upd is not None and len(upd) == len(facts.layer_names) and bool(np.all(np.isfinite(upd))) \
            and bool(np.all(upd < self.config.flat_update_ratio))

    def median_update_ratio(self) -> np.ndarray | None:
        """Each column's median update ratio ‖ΔW‖/‖W‖ per step over the last steps (None before any)."""
        return self.update_window.median() if self.update_window.items else None

    def recent_loss(self, steps: float | None = None) -> float:
        """The median loss of the batches of the last `steps` (baseline_steps) steps (not Keras's running mean,
        which a single huge batch keeps high for the rest of its epoch)."""
        steps = self.config.baseline_steps if steps is None else steps
        recent = self.batch_losses.since(self.step, steps)
        return float(np.median(recent)) if recent and np.all(np.isfinite(recent)) else self.batch_loss

    def start_loss(self) -> float | None:
        """Where the loss started: the lower of the first record's loss and the median of the first baseline_steps
        steps' batches (one first batch is a noisy reference; the median alone would include an early explosion)."""
        if self.first_loss is None:
            return None
        if not self.early_losses or not np.all(np.isfinite(self.early_losses)):
            return self.first_loss
        return min(self.first_loss, float(np.median(self.early_losses)))

    def far_from_good(self, facts: RunFacts) -> bool:
        """The loss of the last steps is still plateau_far or more of where it started or of guessing, whichever is
        lower: the network has not learned (a loss that came down from above guessing to guessing learned nothing)."""
        chance, start = facts.chance_loss, self.start_loss()
        reference = min(start, chance) if chance is not None else start
        return self.recent_loss() >= self.config.plateau_far * reference

    def loss_vs_first(self) -> float:
        return self.recent_loss() / self.first_loss if self.first_loss else math.nan


def update_ratio_words(ratio: float, config: DiagnosticsSpec) -> str | None:
    """The update ratio as evidence: healthy training changes a layer's weights by about 1e-3 of their size per
    step; far below or above, the learning rate is the first suspect. None within the usual range."""
    if not np.isfinite(ratio):
        return None
    if ratio < config.update_ratio_low:
        return (f"Each step changes the weights by {ratio:.1e} of their size, far below the ~1e-3 of healthy "
                "training: the steps are too small.")
    if ratio > config.update_ratio_high:
        return (f"Each step changes the weights by {ratio:.2g} of their size, far above the ~1e-3 of healthy "
                "training: the steps are too large.")
    return None


def _spec_kinds(spec, n: int) -> list[str]:
    if spec is not None and len(spec.network.layers) + 1 == n:
        return [layer.kind for layer in spec.network.layers] + ["dense"]
    return ["dense"] * n


def join(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    if len(names) > 6:
        return f"{', '.join(names[:3])}, … and {names[-1]} ({len(names)} layers)"
    return ", ".join(names[:-1]) + f" and {names[-1]}"
