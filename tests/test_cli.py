"""The CLI as a user meets it: real subprocesses, one-line errors, non-zero exit codes."""

import json
import os
import subprocess
import sys

import pytest

from vg_studio.cli import main
from vg_studio.spec import ExperimentSpec


def run_cli(*args, timeout=300):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "vg_studio.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _error_lines(stderr: str):
    return [line for line in stderr.splitlines() if line.startswith("vg-studio")]


def test_spec_example_is_valid_json(capsys):
    assert main(["spec", "--example"]) == 0
    spec = ExperimentSpec.from_json(capsys.readouterr().out)
    assert len(spec.network.layers) == 6 and spec.data.dataset == "mnist-5k"


@pytest.mark.parametrize("args, expected", [
    (["train", "--out", "X", "--dataset", "nope"], "data.dataset: unknown dataset 'nope'"),
    (["train", "--out", "X", "--spec", "missing.json"], "missing.json: file not found"),
    (["train", "--out", "X", "--epochs", "0"], "training.epochs: must be >= 1"),
    (["spec", "--check", "missing.json"], "missing.json: file not found"),
    (["export", "no-run", "--to", "m.keras"], "no-run: no such run directory"),
])
def test_bad_input_gives_one_line_and_exit_2(args, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vg-studio: error: ") and expected in err[0]


def test_bad_spec_file_fields(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"network": {"layers": [{"units": 0, "activation": "sigmoidd"}]}}))
    assert main(["train", "--spec", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "h1 (network.layers[0]).units: must be >= 1" in err and "h1 (network.layers[0]).activation" in err
    assert "Traceback" not in err


def test_train_quick_flags_write_a_run(tmp_path):
    out = tmp_path / "run dir ü"
    result = run_cli("train", "--dataset", "digits", "--limit", "200", "--layers", "3", "--units", "16",
                     "--activation", "sigmoid", "--optimizer", "sgd", "--lr", "0.1", "--epochs", "2",
                     "--batch-size", "50", "--record-every", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "epoch 2:" in result.stdout and "test accuracy" in result.stdout
    spec = ExperimentSpec.load(out / "spec.json")
    assert [layer.units for layer in spec.network.layers] == [16, 16, 16]
    assert spec.optimizer.name == "sgd" and spec.training.epochs == 2
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "completed"


def test_version_and_info():
    assert run_cli("--version").stdout.startswith("vg-studio ")
    info = run_cli("info")
    assert info.returncode == 0 and "keras:" in info.stdout and "gpus:" in info.stdout


def test_train_never_overwrites_a_recorded_run_by_accident(tmp_path, capsys):
    (tmp_path / "history.h5").write_bytes(b"an earlier run")
    assert main(["train", "--dataset", "digits", "--out", str(tmp_path)]) == 2
    assert "already holds a run (history.h5)" in capsys.readouterr().err
    assert (tmp_path / "history.h5").read_bytes() == b"an earlier run"


def test_ctrl_c_cancels_and_records_the_run(tmp_path):
    import signal

    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "vg_studio.cli", "train", "--dataset", "digits", "--layers", "2",
                             "--units", "16", "--epochs", "500", "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:  # once an epoch is complete, a cancel keeps it
        if line.startswith("epoch 1:"):
            break
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 130, stderr[-2000:]  # a run cancelled by Ctrl-C: 128 + SIGINT
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "cancelled" and report["epochs_completed"] >= 1
    assert (out / "model.keras").is_file() and "stopping after the current batch" in stderr


def test_spec_schema_is_a_json_schema_the_presets_and_example_satisfy(capsys):
    jsonschema = pytest.importorskip("jsonschema")
    from vg_studio.experiments.presets import PRESET_DIR

    assert main(["spec", "--schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    documents = [json.loads(p.read_text()) for p in sorted(PRESET_DIR.glob("*.json"))]
    for document in documents + [json.loads(ExperimentSpec().to_json())]:
        assert not list(validator.iter_errors(document))
    bad = {**documents[0], "network": {"layers": [{"units": 0, "activation": "sigmoidd"}]}}
    assert {e.validator for e in validator.iter_errors(bad)} >= {"minimum", "enum"}


@pytest.mark.parametrize("document, paths", [
    ({"data": {"dataset": "digits", "options": {"limt": 500, "length": 20}}},
     ["data.options.limt: not an option of dataset digits", "data.options.length: not an option"]),
    ({"data": {"dataset": "adding", "options": {"length": 1, "n": 5}}},
     ["data.options.length: must be >= 2", "data.options.n: must be >= 20"]),
    ({"optimizer": {"name": "sdagd", "params": {"norm_scope": "bogus", "radius": -1}}},
     ["optimizer.params.norm_scope: unknown norm scope 'bogus'", "optimizer.params.radius: must be > 0"]),
    ({"optimizer": {"name": "adam", "params": {"beta_1": "x", "momentum": 0.9}}},
     ["optimizer.params.beta_1: must be a number", "optimizer.params.momentum: not a hyperparameter of adam"]),
    ({"diagnostics": {"vanishing_ratio": "small", "exploding_ratio": -1}},
     ["diagnostics.vanishing_ratio: must be a number", "diagnostics.exploding_ratio: must be >= 0"]),
    ({"diagnostics": {"vanishing_ration": 0.1}}, ["diagnostics.vanishing_ration: unknown threshold"]),
])
def test_spec_check_names_every_bad_option_with_its_path(document, paths, tmp_path, capsys):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(document))
    assert main(["spec", "--check", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0]
    for expected in paths:
        assert expected in err[0], err[0]


def test_spec_check_accepts_a_v1_file_with_sdagds_old_batch_size(tmp_path, capsys):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"schema_version": 1, "optimizer": {"name": "sdagd", "params": {"batch_size": 32}}}))
    assert main(["spec", "--check", str(path)]) == 0
    assert "valid" in capsys.readouterr().out
    assert "batch_size" not in ExperimentSpec.load(path).optimizer.params


@pytest.mark.parametrize("layers", ["1000000000", "1000000", "201", "-1"])
def test_absurd_depth_is_refused_at_once_naming_the_limit(layers, tmp_path, capsys):
    from tests.conftest import allocates_under

    with allocates_under(16):  # refused before a layer is built
        assert main(["train", "--out", str(tmp_path / "r"), "--layers", layers]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vg-studio: error: --layers: must be between 0 and 200 (the limit layers; VG_STUDIO_LIMITS "
                   "raises it)"]
    assert not (tmp_path / "r").exists()


def test_flags_go_through_the_edits(tmp_path):
    import argparse

    from vg_studio.cli import build_parser, spec_from_args

    args = build_parser(["train"]).parse_args(
        ["train", "--out", "x", "--layers", "8", "--activation", "relu", "--optimizer", "sdagd", "--batch-size",
         "32", "--dataset", "adding", "--length", "20", "--kind", "lstm"])
    spec = spec_from_args(args)
    assert isinstance(args, argparse.Namespace) and len(spec.network.layers) == 8
    assert {(layer.kind, layer.activation) for layer in spec.network.layers} == {("lstm", "relu")}
    assert spec.optimizer.name == "sdagd" and "batch_size" not in spec.optimizer.params
    assert spec.training.batch_size == 32 and dict(spec.data.options) == {"length": 20}
