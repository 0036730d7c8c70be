"""Names that attack the terminal: a path, a layer name or a file's text holding escape sequences, a forged line
break, a right-to-left override or HTML is shown as inert text by every command — one line, nothing the terminal
would act on — and signals end `train` with one documented exit status."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from vg_studio import text
from vg_studio.cli import main
from vg_studio.interrupts import SignalStop
from vg_studio.startup import Interrupted

PAYLOADS = {
    "clear screen + title": "\x1b[2J\x1b[H\x1b[41;97mPWNED\x1b[0m\x1b]0;owned\x07",
    "forged line": "line1\n[ERROR] forged finding",
    "carriage return": "ok\rvg-studio: all fine",
    "right-to-left override": "model\u202egpj.exe",
    "zero width + isolate": "a\u200bb\u2066c\u2069",
    "C1 control": "x\x9b31mred",
    "line separator": "one\u2028two",
}


def _terminal_safe(line: str) -> None:
    """Nothing in `line` that a terminal would act on: every character printable, no format character."""
    assert line.isprintable(), repr(line)
    assert not any(c in line for c in "\x1b\x07\x9b\u202e\u2066\u2069\u200b\u2028")


@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_inert_shows_every_character_and_acts_on_none(payload):
    shown = text.inert(payload)
    _terminal_safe(shown)
    assert "\n" not in shown and "\r" not in shown
    # visible: decoding the escapes gives the original back (nothing dropped, nothing invented)
    assert shown.encode("latin-1", "backslashreplace").decode("unicode_escape") == payload
    assert text.inert_html(f"<b>{payload}</b>").startswith("&lt;b&gt;")


def test_plain_text_in_any_script_passes_unchanged():
    for plain in ("dense_1", "日本語の層", "ü ß — ok", "conv/2d:0", "emoji 💥"):
        assert text.inert(plain) == plain


def test_one_line_joins_a_library_message_and_keeps_it_inert():
    message = "Exception encountered\n\n\x1b[1m'\x1b[2Jname' is not valid\x1b[0m\n  more"
    shown = text.one_line(message)
    _terminal_safe(shown)
    assert shown == "Exception encountered \\x1b[1m'\\x1b[2Jname' is not valid\\x1b[0m more"


def _stderr_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("vg-studio: error:")]
    assert len(lines) == 1 and len(err.strip().splitlines()) <= 2, err  # (a usage line may come first)
    _terminal_safe(lines[0])
    return lines[0]


@pytest.mark.parametrize("name", list(PAYLOADS), ids=list(PAYLOADS))
def test_a_path_with_escapes_is_one_inert_line_in_every_refusal(name, tmp_path, capsys):
    evil = tmp_path / PAYLOADS[name].replace("/", "_")
    evil.mkdir()
    (evil / "spec.json").write_text("{broken")
    (evil / "run").mkdir()
    (evil / "run" / "history.h5").write_bytes(b"not hdf5")
    keras_file = evil / "m.keras"
    with zipfile.ZipFile(keras_file, "w") as z:
        z.writestr("config.json", "{}")
    commands = [["spec", "--check", str(evil / "spec.json")], ["gui", str(evil / "missing")],
                ["gui", str(evil / "run")], ["export", str(evil / "run"), "--to", str(evil / "out.keras")],
                ["train", "--spec", str(evil / "spec.json"), "--out", str(evil / "new")],
                ["train", "--model", str(keras_file), "--dataset", "digits", "--out", str(evil / "new")]]
    for command in commands:
        assert main(command) == 2, command
        line = _stderr_line(capsys)
        assert text.inert(str(evil)) in line, line  # the path is named, escaped


def test_an_argument_with_escapes_is_shown_inert_in_the_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--out", "x", "--epochs", PAYLOADS["clear screen + title"]])
    assert info.value.code == 2
    _stderr_line(capsys)


def test_an_unforeseen_multi_line_error_is_one_inert_line(monkeypatch, capsys):
    from vg_studio import cli

    def explode(args):
        raise RuntimeError("first\n\x1b[2J" + PAYLOADS["forged line"])

    monkeypatch.setitem(cli.COMMANDS, "info", explode)
    assert main(["info"]) == 1
    line = _stderr_line(capsys)
    assert line.startswith("vg-studio: error: unexpected problem (RuntimeError: first \\x1b[2Jline1 [ERROR]")


def test_what_a_command_prints_from_a_file_is_inert(tmp_path, capsys):
    from vg_studio.spec import example_spec

    spec = tmp_path / ("spec" + PAYLOADS["right-to-left override"] + ".json")
    example_spec().save(spec)
    assert main(["spec", "--check", str(spec)]) == 0
    out = capsys.readouterr().out.strip()
    _terminal_safe(out)
    assert out.startswith(text.inert(str(spec)) + ": valid")


# ---- signals: one exit status for a cancelled run -------------------------------------------------------------
class _Run:
    def __init__(self):
        self.cancelled = 0

    def cancel(self):
        self.cancelled += 1


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_before_training_has_started_interrupts_at_once(signum):
    run = _Run()
    stop = SignalStop(run.cancel)
    with pytest.raises(Interrupted) as info:
        stop.handle(signum)
    assert info.value.signum == signum and run.cancelled == 0 and stop.exit_status("failed") == 128 + signum


@pytest.mark.parametrize("signum, second", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGINT)])
def test_during_training_the_first_signal_cancels_the_second_interrupts_and_the_status_is_the_first(
        signum, second, capsys):
    from vg_studio.train import events

    run = _Run()
    stop = SignalStop(run.cancel)
    stop(events.RunStarted.__new__(events.RunStarted))
    stop.handle(signum)
    assert run.cancelled == 1 and "stopping after the current batch" in capsys.readouterr().err
    for status in ("cancelled", "completed", "failed"):  # whatever the run says once stopped
        assert stop.exit_status(status) == 128 + signum
    with pytest.raises(Interrupted) as info:
        stop.handle(second)
    assert info.value.signum == signum and stop.exit_status("cancelled") == 128 + signum  # the first decides
    stopped_now = []
    stop = SignalStop(run.cancel, stop_now=stopped_now.append)  # a command's own way to stop at once
    stop(events.RunStarted.__new__(events.RunStarted))
    stop.handle(signum)
    assert stopped_now == []
    with pytest.raises(Interrupted):  # a stop_now that returns still ends the block
        stop.handle(second)
    assert stopped_now == [signum]


def test_without_a_signal_the_status_is_the_runs():
    stop = SignalStop(_Run().cancel)
    assert [stop.exit_status(s) for s in ("completed", "cancelled", "diverged", "failed")] == [0, 1, 1, 1]


def test_the_handler_is_installed_only_for_the_block():
    before = signal.getsignal(signal.SIGTERM)
    stop = SignalStop(_Run().cancel)
    with stop.installed():
        assert signal.getsignal(signal.SIGTERM) == stop.handle
    assert signal.getsignal(signal.SIGTERM) == before


def test_json_stays_json_whatever_the_names():
    """--json output is for machines: json.dumps escapes control characters itself; nothing is altered."""
    document = {"name": PAYLOADS["clear screen + title"], "layers": [PAYLOADS["forged line"]]}
    dumped = json.dumps(document)
    assert dumped.isprintable() and json.loads(dumped) == document


def test_an_error_a_library_makes_of_the_interrupt_is_still_the_interrupt():
    stop = SignalStop(_Run().cancel)
    with pytest.raises(Interrupted) as info:
        with stop.installed():
            stop.handle(signal.SIGTERM)  # before training: at once
    assert info.value.signum == signal.SIGTERM
    with pytest.raises(Interrupted) as info:
        with stop.installed():
            raise RuntimeError("a library's wrapper around the KeyboardInterrupt")
    assert info.value.signum == signal.SIGTERM and isinstance(info.value.__cause__, RuntimeError)
    fresh = SignalStop(_Run().cancel)
    with pytest.raises(RuntimeError):  # without a signal an error stays itself
        with fresh.installed():
            raise RuntimeError("x")


# ---- real signals to `vg-studio train` ---------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def _train(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen([sys.executable, "-m", "vg_studio.cli", "train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _training_asked_to_stop(first: int, out: Path) -> subprocess.Popen:
    """`train` into `out`, sent `first` once its first epoch is done and back once it has said it will stop."""
    proc = _train("--dataset", "digits", "--layers", "2", "--units", "16", "--epochs", "500", "--out", str(out))
    for line in proc.stdout:
        if line.startswith("epoch 1:"):
            break
    proc.send_signal(first)
    for line in proc.stderr:  # handled: a SIGINT pending beside it would otherwise be handled first (lower number)
        if line.startswith("stopping after the current batch"):
            break
    return proc


@pytest.mark.parametrize("first, second", [(signal.SIGINT, signal.SIGINT),
                                           pytest.param(signal.SIGTERM, signal.SIGINT, marks=pytest.mark.slow)])
def test_two_signals_during_training_always_exit_with_the_first_signals_status(first, second, tmp_path):
    from vg_studio.train.runstore import open_run

    out = tmp_path / "run"
    proc = _training_asked_to_stop(first, out)
    proc.send_signal(second)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 128 + first, (proc.returncode, stderr[-2000:])
    assert "Traceback" not in stderr
    run = open_run(out)
    assert run.status == "cancelled" and run.history.num_epochs >= 1


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM])
def test_a_burst_of_signals_after_the_first_ends_the_command_once_with_the_run_recorded(first, tmp_path):
    """Ctrl-C held down: the later signals land anywhere — inside TensorFlow's C code calling back into Python,
    inside the run being marked cancelled, inside the exit itself. The command still ends with the first signal's
    status, one last line and no traceback, and the run says it was cancelled, with no writer's file left."""
    from vg_studio.train.runstore import open_run

    out = tmp_path / "run"
    proc = _training_asked_to_stop(first, out)
    while proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        time.sleep(0.003)
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 128 + first, (proc.returncode, stderr[-2000:])
    last = stderr.strip().splitlines()[-1:]  # none if training had ended before the next signal came
    assert "Traceback" not in stderr and last in ([], [
        "vg-studio: terminated" if first == signal.SIGTERM else "vg-studio: interrupted"]), stderr[-2000:]
    run = open_run(out)
    assert run.status == "cancelled" and run.history.num_epochs >= 1
    assert not {".lock", ".reserve", "history.log"} & set(os.listdir(out))


@pytest.mark.slow
def test_a_signal_while_a_model_loads_ends_the_command_at_once(tmp_path):
    """A Sequential of 1,500 layers (within the limit) takes Keras minutes to build; a SIGTERM meanwhile ends the
    command within seconds — there is no batch to wait for."""
    dense = {"module": "keras.layers", "class_name": "Dense", "config": {"units": 1},
             "build_config": {"input_shape": [None, 1]}}
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "slow", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 64]}},
        {"module": "keras.layers", "class_name": "Flatten", "config": {}},
        *({**dense, "config": {"units": 1, "name": f"d{i}"},
           "build_config": {"input_shape": [None, 64 if i == 0 else 1]}} for i in range(1500))]}}
    model = tmp_path / "slow.keras"
    with zipfile.ZipFile(model, "w") as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(64))
    proc = _train("--model", str(model), "--dataset", "digits", "--out", str(tmp_path / "run"))
    time.sleep(12)  # the backend has started by now; Keras builds the layers one by one
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGTERM)
    started = time.perf_counter()
    _, stderr = proc.communicate(timeout=120)
    assert time.perf_counter() - started < 15 and proc.returncode == 143, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "vg-studio: terminated" and "Traceback" not in stderr
    assert not (tmp_path / "run").exists()
