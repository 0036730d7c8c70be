"""Every preset the app offers, written by code: `python -m vg_studio.experiments.presets [DIR]` writes one spec JSON
per preset into resources/presets/ (or DIR). Each has a human name (the Presets menu shows it) and a description
of what it demonstrates — tests/test_presets.py trains each one briefly and checks that it does.

- teach-*: teaching examples (offline data, seconds to minutes on a CPU);
- sdagd-* / attention-*: the reproductions' experiments (one per cell family of Tan & Lim's Table I and of Wu's
  attention comparison), as `vg-studio reproduce` runs them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vg_studio import edits
from vg_studio.experiments import attention, sdagd
from vg_studio.resources import PRESETS as PRESET_DIR
from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, NetworkSpec, OptimizerSpec, TrainingSpec

_SIGMOID = dict(units=128, activation="sigmoid", initializer="glorot_uniform")


def _deep(name: str, description: str, layer: dict, optimizer: OptimizerSpec, depth: int = 6, **changes) \
        -> ExperimentSpec:
    spec = ExperimentSpec(name=name, description=description, data=DataSpec(dataset="mnist-5k"),
                          network=NetworkSpec(layers=[LayerSpec(**layer) for _ in range(depth)]),
                          optimizer=optimizer, training=TrainingSpec(epochs=5, batch_size=100, seed=0))
    return spec.model_copy(update=changes)


def _sdagd(spec: ExperimentSpec) -> ExperimentSpec:
    """SDAGD set for a quick lesson on a small network (docs/sdagd.md): the defaults are chosen for Tan & Lim's
    700-wide nets over 400 steps; on this 128-wide net a constant radius of 0.2 with η 0.01, the plain diagonal and no
    pre-activation radius learns within the first 100 steps, which the lesson needs. No averaging of the weights:
    its ~50-step window would lag a network that learns that fast, and the lesson scores what it showed live."""
    spec = edits.set_field(edits.set_optimizer(spec, "sdagd"), "optimizer.learning_rate", 0.01)
    for key, value in {"radius": 0.2, "radius_growth_steps": 0.0, "radius_decay_steps": 0.0, "momentum": 0.0,
                       "curvature_scale": "diagonal", "preactivation_radius": 0.0, "radius_warmup_steps": 0.0,
                       "use_ema": False}.items():
        spec = edits.set_optimizer_param(spec, key, value)
    return spec


def _recurrent(kind: str, label: str, verdict: str) -> ExperimentSpec:
    """The three recurrent presets differ in the layer kind only. Adam at 1e-2 (1e-3 leaves even the gated cells
    at chance for 10+ epochs) with clipping; 30 epochs, which the LSTM needs (measured: GRU ~80 % after 10, LSTM
    ~90 % after 30, SimpleRNN at chance)."""
    return ExperimentSpec(
        name=f"{label} on the adding problem",
        description=f"A {label} layer of 32 units must carry two marked values across 100 time steps; {verdict}",
        data=DataSpec(dataset="adding", options={"length": 100}),
        network=NetworkSpec(layers=[LayerSpec(kind=kind, units=32, activation="tanh")]),
        optimizer=OptimizerSpec(name="adam", learning_rate=1e-2, clipnorm=1.0),
        training=TrainingSpec(epochs=30, batch_size=100, seed=0))


def teaching_presets() -> dict[str, ExperimentSpec]:
    sgd = OptimizerSpec(name="sgd", learning_rate=0.1)
    deep_sigmoid = _deep(
        "Deep sigmoid, plain SGD",
        "Six sigmoid layers trained with plain SGD: the gradient reaching the first layer is hundreds of times "
        "smaller than at the output (it vanishes), so the early layers barely learn.", _SIGMOID, sgd)
    return {
        "teach-deep-sigmoid": deep_sigmoid,
        "teach-deep-relu": _deep(
            "Deep ReLU (He init), plain SGD",
            "The same six layers with ReLU and He initialization: the first layer's gradient stays within a small "
            "factor of the output's and the network learns quickly.",
            dict(units=128, activation="relu", initializer="he_normal"), sgd),
        "teach-deep-sigmoid-aux": edits.update_layers(_deep(
            "Deep sigmoid + auxiliary classifiers",
            "The deep sigmoid network with two auxiliary softmax heads (after h2 and h4, training only): their "
            "error signal reaches the first layers through fewer layers, so the first layer's gradient is many "
            "times larger than without them.", _SIGMOID, sgd), [1, 3], aux_head=True),
        "teach-deep-sigmoid-sdagd": _sdagd(_deep(
            "Deep sigmoid, SDAGD",
            "The deep sigmoid network trained with SDAGD (Tan & Lim, 2019): its steps are set relative to each "
            "unit's gradient size, so the early layers move although their gradients vanish, and it learns.",
            _SIGMOID, sgd)),
        "teach-dnn": _deep(
            "Shallow sigmoid network, Adam",
            "Three sigmoid layers trained with Adam: a network shallow enough to train well — the baseline for "
            "the attention variant.", _SIGMOID, OptimizerSpec(name="adam", learning_rate=1e-3), depth=3),
        "teach-dnn-attention": edits.update_layers(_deep(
            "Shallow sigmoid network + attention, Adam",
            "The three-layer network with Wu's attention block in front of the first layer (the image rows are "
            "its tokens): it learns as well as the baseline while the block re-weights the input.",
            _SIGMOID, OptimizerSpec(name="adam", learning_rate=1e-3), depth=3), 0, attention=True),
        "teach-rnn-simple": _recurrent("simple_rnn", "SimpleRNN", "its gradient fades over the steps and it stays "
                                                                  "near chance (50 %)."),
        "teach-rnn-lstm": _recurrent("lstm", "LSTM", "its gated cell state carries the gradient back: after a "
                                                     "plateau at chance it learns the task (about 90 % in 30 "
                                                     "epochs)."),
        "teach-rnn-gru": _recurrent("gru", "GRU", "its update gate carries the gradient back and it learns the "
                                                  "task (about 80 % within 10 epochs)."),
    }


# The reproductions' cells as presets, offline: the app's presets use the bundled 5,000-digit MNIST (the full
# MNIST of the paper needs a download; `vg-studio reproduce` and the Data panel's "mnist" use it).
_REPRODUCTIONS = {
    "sdagd-hl5-sigmoid-sgd": ("Tan & Lim: 5×700 sigmoid, SGD", "Tan & Lim's (2019) hl-5 network with sigmoid "
                                "units and plain SGD: the gradient vanishes towards the input."),
    "sdagd-hl5-sigmoid-sdagd": ("Tan & Lim: 5×700 sigmoid, SDAGD", "Tan & Lim's (2019) hl-5 sigmoid network "
                                  "trained with SDAGD, which keeps the early layers learning."),
    "sdagd-hl5-relu-sgd": ("Tan & Lim: 5×700 ReLU, SGD", "Tan & Lim's (2019) hl-5 network with ReLU units and "
                             "plain SGD: the gradient reaches the first layer undiminished, though SGD on the "
                             "paper's squared-error loss converges slowly (100 epochs)."),
    "sdagd-hl5-relu-sdagd": ("Tan & Lim: 5×700 ReLU, SDAGD", "Tan & Lim's (2019) hl-5 ReLU network trained with "
                               "SDAGD."),
    "attention-plain": ("Wu: plain network", "Wu's plain deep ReLU network (the baseline of the attention study) on "
                      "generated shapes."),
    "attention-every-layer": ("Wu: attention in every layer", "Wu's network with an attention block in every hidden "
                          "layer, which keeps the gradient near the input stable."),
}


def reproduction_presets() -> dict[str, ExperimentSpec]:
    specs = {**sdagd.presets(), **attention.presets()}
    out = {}
    for key, spec in specs.items():
        name, description = _REPRODUCTIONS[key]
        spec = spec.model_copy(update={"name": name, "description": description})
        out[key] = edits.set_dataset(spec, "mnist-5k") if spec.data.dataset == "mnist" else spec
    return out


def all_presets() -> dict[str, ExperimentSpec]:
    """The reproductions' presets (tests/test_reproduce.py checks them against the files)."""
    return reproduction_presets()


def every_preset() -> dict[str, ExperimentSpec]:
    return {**teaching_presets(), **reproduction_presets()}


def write_presets(directory: Path = PRESET_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, spec in every_preset().items():
        path = directory / f"{name}.json"
        spec.check().save(path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_presets(Path(sys.argv[1]) if len(sys.argv) > 1 else PRESET_DIR):
        print(written)
