"""Notebooks: the example notebook executed as a user would (nbclient, a real kernel) on the offline digits, and
`vg_studio.open` starting the app on a run in a process of its own."""

import os
import sys
import time
from pathlib import Path

import pytest

from tests.report_runs import write_run

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "watch_in_notebook.ipynb"


def test_the_example_notebook_runs_and_shows_the_report_inline(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    pytest.importorskip("tensorboard")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(EXAMPLE.parents[1]), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("KERAS_BACKEND", "jax")  # the notebook runs on any backend; JAX starts fastest
    notebook = nbformat.read(EXAMPLE, as_version=4)
    started = time.perf_counter()
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    took = time.perf_counter() - started
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(shown) == 1 and shown[0].startswith('<div class="vgs-report">')
    assert shown[0].count("data:image/png;base64,") >= 6  # the figures, inline
    assert "vanishing gradient" in shown[0]  # six sigmoid layers: the diagnosis says so in the report
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    said = [line for o in outputs if o.output_type == "stream" and o.name == "stderr"
            for line in o.text.splitlines() if "vg-studio: [WARNING] vanishing gradient" in line]
    assert len(said) == 1  # the live warning, in the training cell's own output, once
    logdir = printed.split("tensorboard --logdir", 1)[1].split()[0]
    assert list(Path(logdir).glob("events.out.tfevents.*"))  # the live TensorBoard listener wrote its events
    assert took < 60, f"the example notebook took {took:.0f} s"


def test_open_starts_the_app_on_the_run_in_its_own_process(tmp_path, monkeypatch):
    import vg_studio
    from vg_studio.report.notebook import app_command

    write_run(tmp_path / "run", layers=2, records=4)
    assert app_command(tmp_path / "run")[-2:] == ["gui", str(tmp_path / "run")]
    with pytest.raises(FileNotFoundError, match="no such run directory"):
        vg_studio.open(tmp_path / "missing")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    process = vg_studio.open(tmp_path / "run")
    try:
        time.sleep(1.0)
        assert process.poll() is None  # the app is up (or starting), the call returned at once
        assert os.getsid(process.pid) != os.getsid(0)  # its own session: a kernel interrupt does not reach it
        assert process.args[0] == sys.executable
    finally:
        process.terminate()
        process.wait(timeout=30)
