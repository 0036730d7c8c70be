"""`vg-studio reproduce sdagd|attention` on tiny grids: files and columns, numbers checked against independent
computations, resume, a failing cell, parallel processes, Ray (when installed), verdicts, presets."""

import csv
import importlib.util
import io
import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from vg_studio.cli import main
from vg_studio.experiments import attention, sdagd
from vg_studio.experiments.cells import Cell, Progress, run_cells
from vg_studio.experiments.presets import PRESET_DIR, all_presets
from vg_studio.spec import ExperimentSpec

from tests.conftest import make_tiny_spec

HAVE_SDAGD = importlib.util.find_spec("vg_studio.nn.sdagd") is not None
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def tiny_cell(tmp_path, key, **kwargs) -> Cell:
    spec = make_tiny_spec(layers=1, units=8, limit=200, **kwargs)
    return Cell(key, spec, tmp_path / "cells" / key)


# ---- Tan & Lim: SDAGD--------------------------------------------------------------------------------------------
def test_sdagd_tiny_grid_table_matches_the_trained_models(tmp_path, capsys):
    """The CI version: two 1-epoch cells; the table's MCR and SDAGD's phase-I share recomputed from the cells."""
    out = tmp_path / "sdagd"
    code = main(["reproduce", "sdagd", "--dataset", "digits", "--epochs", "1", "--runs", "1", "--out", str(out),
                 "--depths", "1", "--units", "8", "--activations", "sigmoid", "--optimizers", "sgd,sdagd"])
    assert code == 0, capsys.readouterr().err
    rows = {r["optimizer"]: r for r in read_csv(out / "table.csv")}
    assert set(rows) == {"sgd", "sdagd"} and rows["sgd"]["network"] == "64-8x1-10"
    import keras
    from vg_studio.data import load_dataset
    from vg_studio.train.runstore import open_run

    data = load_dataset("digits")
    for name, row in rows.items():
        cell = out / "cells" / f"{name}-sigmoid-hl1-run0"
        model = keras.saving.load_model(cell / "model.keras")
        predicted = model.predict(data.x_test, verbose=0).argmax(axis=1)
        assert float(row["mcr_mean_pct"]) == pytest.approx(100 * np.mean(predicted != data.y_test), abs=1e-3)
    history = open_run(out / "cells" / "sdagd-sigmoid-hl1-run0").history.optimizer
    phase1 = history["sdagd_phase1_fraction"]
    assert float(rows["sdagd"]["sdagd_phase1_final"]) == pytest.approx(phase1[-1], abs=1e-4)
    per_layer = [float(history[f"sdagd_phase1_fraction[{g}]"][-1]) for g in ("hidden_1", "output")]
    expected = f"| Sigmoid hl-1 | {phase1[-1]:.2f} | {per_layer[0]:.2f} | {per_layer[1]:.2f} |"
    assert expected in (out / "table.md").read_text()  # the phase-I share per layer, from the cell's history
    assert rows["sgd"]["sdagd_phase1_final"] == ""
    assert (out / "training_error_sigmoid.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.slow
def test_sdagd_grid_writes_table_figures_and_report(tmp_path, capsys):
    optimizers = "sgd,sdagd" if HAVE_SDAGD else "sgd"
    out = tmp_path / "sdagd"
    code = main(["reproduce", "sdagd", "--dataset", "mnist-5k", "--epochs", "1", "--runs", "1", "--out", str(out),
                 "--depths", "2", "--units", "8", "--limit", "200", "--activations", "sigmoid,relu",
                 "--optimizers", optimizers])
    assert code == 0, capsys.readouterr().err
    rows = read_csv(out / "table.csv")
    assert list(rows[0]) == ["depth", "network", "optimizer", "activation", "runs", "runs_completed",
                             "mcr_mean_pct", "mcr_std_pct", "paper_mcr_pct", "diff_pct", "accuracy_mean_pct",
                             "f1_macro_mean_pct", "wall_time_s_mean", "sdagd_phase1_final"]
    assert len(rows) == 2 * len(optimizers.split(","))
    row = next(r for r in rows if r["optimizer"] == "sgd" and r["activation"] == "sigmoid" and r["depth"] == "2")
    assert row["network"] == "784-8x2-10" and float(row["paper_mcr_pct"]) == 12.98

    # The table's MCR is the trained model's error on the held-out mnist-5k test split, recomputed here.
    import keras
    from vg_studio.data import load_dataset

    data = load_dataset("mnist-5k")
    model = keras.saving.load_model(out / "cells" / "sgd-sigmoid-hl2-run0" / "model.keras")
    predicted = model.predict(data.x_test, verbose=0).argmax(axis=1)
    assert float(row["mcr_mean_pct"]) == pytest.approx(100 * np.mean(predicted != data.y_test), abs=1e-3)
    assert float(row["diff_pct"]) == pytest.approx(float(row["mcr_mean_pct"]) - 12.98, abs=1e-3)

    table_md = (out / "table.md").read_text()
    assert "| hl-2 |" in table_md and "(paper 12.98)" in table_md and "(paper 10.07)" in table_md
    for name in ("training_error_sigmoid.png", "training_error_relu.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    report = (out / "report.md").read_text()
    for part in ("## Environment", "keras 3", "backend: ", "device: ", "time: ", "## Verdict",
                 "learning rate 0.1"):
        assert part in report
    assert "progress" not in capsys.readouterr().out.lower()


def test_sdagd_cell_specs_follow_the_paper():
    options = sdagd.GridOptions()
    cells = sdagd.build_cells(options, Path("x"))
    assert len(cells) == 5 * 2 * 3 * 3  # depths × activations × {SGD, SDAGD, Adam} × runs
    spec = next(c.spec for c in cells if c.key == "sgd-sigmoid-hl4-run2")
    assert [layer.units for layer in spec.network.layers] == [700] * 4
    assert {layer.initializer for layer in spec.network.layers} == {"glorot_uniform"}
    assert spec.training.batch_size == 100 and spec.training.seed == 2
    assert spec.optimizer.name == "sgd" and spec.optimizer.learning_rate == 0.1
    assert spec.data.dataset == "mnist" and spec.loss == "mse"
    adam = next(c.spec for c in cells if c.key == "adam-relu-hl1-run0")
    assert adam.optimizer.name == "adam" and adam.optimizer.learning_rate == 0.001


def _table(values: dict) -> dict:
    """A measured table with the given MCR per (optimizer, activation) across hl-1…hl-5."""
    return {(opt, act, d): sdagd.Measured(v[d - 1], 0.0, 1, 1, [], 0, 0, 0)
            for (opt, act), v in values.items() for d in range(1, 6)}


def test_verdict_on_the_papers_own_numbers_holds_every_claim():
    lines = sdagd.verdict(sdagd.GridOptions(), _table(sdagd.PAPER_TABLE_I))
    claims = [line for line in lines if line.startswith("- **")]
    assert len(claims) >= 6 and all("**HELD**" in line for line in claims), lines
    assert "- SGD Sigmoid: mean +0.00, largest |diff| 0.00" in lines


def test_verdict_reports_claims_that_fail():
    values = dict(sdagd.PAPER_TABLE_I)
    values[("sgd", "sigmoid")] = (10.0, 11.0, 12.0, 13.0, 14.0)  # SGD-sigmoid trains fine at every depth
    values[("sdagd", "relu")] = (15.0, 1.0, 2.0, 2.0, 2.0)  # not monotonic, and worse than SGD at hl-1
    lines = "\n".join(sdagd.verdict(sdagd.GridOptions(), _table(values)))
    assert "**DID NOT HOLD** — SGD with sigmoid fails to train at hl-4, hl-5" in lines
    assert "**DID NOT HOLD** — SDAGD with ReLU: MCR rises with depth" in lines
    assert "lower in 9 of 10; not in ReLU hl-1" in lines
    assert "SGD Sigmoid: mean -35.20" in lines  # (−0.73 −1.98 −21.71 −75.65 −75.91) / 5


# ---- Wu: attention--------------------------------------------------------------------------------------------
def test_attention_writes_tables_with_independent_gradient_means(tmp_path, capsys):
    out = tmp_path / "attention"
    code = main(["reproduce", "attention", "--epochs", "2", "--out", str(out), "--depth", "1", "--units", "16",
                 "--limit", "300"])
    assert code == 0, capsys.readouterr().err
    t1 = read_csv(out / "table1.csv")
    assert list(t1[0]) == ["epoch", "plain_grad_mean", "attention_grad_mean", "plain_stability_score",
                           "attention_stability_score", "paper_plain_grad_mean", "paper_attention_grad_mean",
                           "paper_score"]
    assert [r["epoch"] for r in t1] == ["1", "2"]
    for model in ("plain", "attention"):
        with h5py.File(out / "cells" / f"{model}-run0" / "history.h5") as f:
            names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
            grads = f["probes/grad_mean_abs"][:, names.index("hidden_1")]
            epochs = f["probes/epoch"][()]
        for row in t1:
            expected = grads[epochs == int(row["epoch"]) - 1].mean()
            assert float(row[f"{model}_grad_mean"]) == pytest.approx(expected, rel=1e-4)
        assert t1[0][f"{model}_stability_score"] == "10"  # epoch 1 against itself

    t2 = read_csv(out / "table2.csv")
    assert [r["model"] for r in t2] == ["plain", "attention"]
    assert {"accuracy_pct", "recall_pct", "f1_pct", "mcr_pct", "images_per_s", "accuracy_pct_paper"} <= set(t2[0])
    assert float(t2[1]["accuracy_pct_paper"]) == 85.3 and float(t2[0]["images_per_s_paper"]) == 500
    for row in t2:
        assert float(row["accuracy_pct"]) + float(row["mcr_pct"]) == pytest.approx(100.0, abs=1e-3)
    assert (out / "gradient_mean.png").read_bytes()[:8] == PNG_MAGIC
    report = (out / "report.md").read_text()
    assert "## Environment" in report and "## Verdict" in report and "shapes10" in report
    with open(out / "cells" / "attention-run0" / "spec.json") as fh:
        spec = json.load(fh)
    assert spec["optimizer"]["name"] == "adam" and spec["optimizer"]["learning_rate"] == 0.001
    assert spec["training"]["batch_size"] == 64 and all(layer["attention"] for layer in spec["network"]["layers"])


@pytest.mark.parametrize("ratio, score", [(1.0, 10), (0.5, 9), (0.1, 7), (0.01, 4), (1e-3, 1), (1e-6, 1),
                                          (10.0, 7), (0.0, None), (math.nan, None)])
def test_stability_score(ratio, score):
    assert attention.stability_score(ratio) == score


def test_checkpoints_are_every_tenth_epoch():
    assert attention.checkpoints(100) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert attention.checkpoints(25) == [10, 20, 25]
    assert attention.checkpoints(3) == [1, 2, 3]


# ---- the cell runner ----------------------------------------------------------------------------------------
def test_rerun_skips_finished_cells(tmp_path):
    cells = [tiny_cell(tmp_path, "a")]
    first = run_cells(cells, progress=Progress(cells, stream=io.StringIO()))
    assert [o.status for o in first] == ["completed"]
    stamp = (cells[0].run_dir / "report.json").stat().st_mtime_ns
    more = cells + [tiny_cell(tmp_path, "b", activation="sigmoid")]
    stream = io.StringIO()
    second = run_cells(more, progress=Progress(more, stream=stream))
    assert [o.status for o in second] == ["skipped", "completed"]
    assert (cells[0].run_dir / "report.json").stat().st_mtime_ns == stamp
    assert "cells 2/2" in stream.getvalue() and "epochs 2/2" in stream.getvalue()


@pytest.mark.parametrize("jobs", [1, pytest.param(2, marks=pytest.mark.slow)])  # 2: two fresh processes
def test_a_failing_cell_is_reported_while_the_others_finish(tmp_path, jobs):
    good = tiny_cell(tmp_path, "good")
    bad = tiny_cell(tmp_path, "bad", dataset="npz:" + str(tmp_path / "missing.npz"))
    stream = io.StringIO()
    outcomes = run_cells([bad, good], jobs=jobs, progress=Progress([bad, good], stream=stream))
    assert [o.status for o in outcomes] == ["failed", "completed"]
    assert "missing.npz" in outcomes[0].message
    assert json.loads((bad.run_dir / "report.json").read_text())["status"] == "failed"
    assert json.loads((good.run_dir / "report.json").read_text())["test_metrics"]["accuracy"] >= 0
    assert "cell bad failed" in stream.getvalue() and "(1 failed)" in stream.getvalue()


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install -e '.[cluster]')")
def test_ray_local_cluster_runs_cells_and_returns_run_directories(tmp_path):
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        cells = [tiny_cell(tmp_path, "on-ray")]
        outcomes = run_cells(cells, ray_address="local", progress=Progress(cells, stream=io.StringIO()))
    finally:
        ray.shutdown()
    assert [o.status for o in outcomes] == ["completed"]
    for name in ("spec.json", "model.keras", "history.h5", "report.json"):
        assert (cells[0].run_dir / name).is_file()
    assert ExperimentSpec.load(cells[0].run_dir / "spec.json").to_dict() == cells[0].spec.to_dict()


# ---- CLI errors and presets ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args, expected", [
    (["sdagd", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["attention", "--dataset", "npz:/no/such.npz"], "/no/such.npz"),
])
def test_bad_input_is_one_line_and_exit_2(args, expected, tmp_path, capsys):
    assert main(["reproduce", *args, "--out", str(tmp_path / "o")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and expected in err[0] and "Traceback" not in err[0]


def test_bad_option_value_exits_2_naming_the_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "sdagd", "--runs", "0"])
    assert exc.value.code == 2
    assert "--runs: expected a positive integer, got 0" in capsys.readouterr().err


def test_presets_are_the_reproductions_experiments():
    files = sorted([*PRESET_DIR.glob("sdagd-*.json"), *PRESET_DIR.glob("attention-*.json")])
    assert {p.stem for p in files} == set(all_presets())
    for path in files:
        spec = ExperimentSpec.load(path)
        assert spec.to_dict() == all_presets()[path.stem].to_dict()
        if path.stem.startswith("sdagd-"):
            assert [layer.units for layer in spec.network.layers] == [700] * 5
            assert spec.training.batch_size == 100
        else:
            assert spec.optimizer.name == "adam" and spec.training.batch_size == 64
            assert all(layer.attention for layer in spec.network.layers) == path.stem.endswith("every-layer")
