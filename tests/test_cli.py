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
    (["export", "no-run", "--to", "m.keras"], "no trained model"),
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
    import time

    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "vg_studio.cli", "train", "--dataset", "digits", "--layers", "2",
                             "--units", "16", "--epochs", "500", "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (out / "history.h5").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "cancelled" and report["epochs_completed"] >= 1
    assert (out / "model.keras").is_file() and "stopping after the current batch" in stderr
