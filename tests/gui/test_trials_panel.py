"""Try fixes, through the real widgets: a click on "Try fixes…" docks the trials, each trial is listed from the
start and filled in as it ends, the ranking follows what a user cares about (the test accuracy reached, then the
loss) and says why, names are whole, columns can be widened, the progress bar is a real one, each tooltip tells
that trial's own end, and "Apply the winner" puts the winner in the editor. The trials themselves (processes
that train) are replaced by their results, made up here."""

from __future__ import annotations

import math
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView

from tests.gui.conftest import gui_spec
from tests.gui.synthetic_runs import synthetic_run
from vg_studio.diagnose import trials
from vg_studio.diagnose.findings import Finding
from vg_studio.diagnose.fixes import fixes_for


def result(key, title, accuracy, loss_end, drop, status="completed", steps=100, message=""):
    return trials.TrialResult(key, title, status, message or f"stopped by the user after step {steps}", steps, 2.3,
                              loss_end, drop, 1e-2, 10.0 if key != trials.BASELINE else math.nan, accuracy,
                              key == trials.BASELINE, None)


@pytest.fixture
def fake_trials(monkeypatch):
    """plan_trials/run_trials stand-ins: BatchNorm takes the loss down fastest but reaches 10 % test accuracy."""
    spec = gui_spec()
    finding = Finding(kind="vanishing_gradient", severity="error", step=3, epoch=0, layers=("hidden_1",),
                      evidence={}, message="gradients vanish", fixes=tuple(fixes_for("vanishing_gradient", spec)))
    fixes = {f.id: f for f in finding.fixes}
    made = [result(trials.BASELINE, "Unchanged (for comparison)", 0.31, 2.0, 0.13),
            result("batch_norm", fixes["batch_norm"].title, 0.10, 0.9, 0.61),
            result("relu_he", fixes["relu_he"].title, 0.92, 1.1, 0.52),
            result("residual", fixes["residual"].title, 0.88, 1.3, 0.43, steps=37, status="diverged",
                   message="the loss became NaN at step 37")]
    finding = Finding(kind="vanishing_gradient", severity="error", step=3, epoch=0, layers=("hidden_1",),
                      evidence={}, message="gradients vanish",
                      fixes=tuple(fixes[key] for key in ("batch_norm", "relu_he", "residual")))
    calls = {}

    def plan(run_dir):
        return trials.TrialPlan(str(run_dir), spec, finding, finding.fixes, 10, 9)

    def run(plan, steps, jobs=1, progress=None, cancel=None, on_result=None, **options):
        calls["steps"] = steps
        for n, each in enumerate(made, 1):
            time.sleep(0.05)
            progress(n / len(made), f"[{'#' * n}{'.' * (len(made) - n)}] cells {n}/{len(made)} | epochs {n}/4")
            if on_result is not None:
                on_result(each)
        return list(made)

    monkeypatch.setattr(trials, "plan_trials", plan)
    monkeypatch.setattr(trials, "run_trials", run)
    return {"spec": spec, "finding": finding, "results": made, "calls": calls}


@pytest.fixture
def win(qtbot, tmp_path):
    from vg_studio.gui.main_window import MainWindow

    window = MainWindow(spec=gui_spec(layers=2), workspace=tmp_path / "runs")
    qtbot.addWidget(window)
    window._background_started = True
    window.show()
    qtbot.waitExposed(window)
    yield window
    window._closing_confirmed = True
    window.close()


def test_try_fixes_ranks_by_what_the_user_cares_about(qtbot, win, fake_trials, tmp_path):
    run = synthetic_run("deep sigmoid", spec=fake_trials["spec"])
    run.spec, run.run_dir, run.findings = fake_trials["spec"], tmp_path, [fake_trials["finding"]]
    win.runs.add_run(run)
    win.runs.select([run])
    diagnostics = win.diagnostics
    diagnostics.tree.setCurrentItem(diagnostics.tree.topLevelItem(0))
    qtbot.mouseClick(diagnostics.trials_button, Qt.LeftButton)
    panel = win.trials
    assert panel is not None and not win.docks["Fix trials"].visibleRegion().isEmpty()
    fixes = fake_trials["finding"].fixes
    assert panel.table.rowCount() == 1 + len(fixes)  # every trial listed at once, before any has ended
    qtbot.waitUntil(lambda: not panel.running and panel.verdict.text() != "", timeout=20_000)
    assert "[" not in panel.progress.format() and "#" not in panel.progress.format()
    assert panel.progress.value() == panel.progress.maximum()

    shown = [panel.table.item(row, 0).text() for row in range(panel.table.rowCount())]
    by_title = {r.title: r for r in fake_trials["results"]}
    assert shown[0] == by_title[next(t for t in by_title if "ReLU" in t)].title  # 92 % test accuracy first
    batchnorm = next(t for t in shown if "BatchNorm" in t)
    assert shown.index(batchnorm) > shown.index("Unchanged network (reference)"), \
        "10 % test accuracy ranked above the unchanged network's 31 %"
    for title in shown:  # whole names: no "1. Use…"
        assert not title[:3].strip().endswith(".") and "…" not in title
    header = panel.table.horizontalHeader()
    assert all(header.sectionResizeMode(c) == QHeaderView.Interactive for c in range(header.count() - 1))
    width = panel.table.columnWidth(0)
    header.resizeSection(0, width + 80)  # the column can be widened
    assert panel.table.columnWidth(0) == width + 80
    tips = {panel.table.item(row, 0).toolTip() for row in range(panel.table.rowCount())}
    assert len(tips) == panel.table.rowCount()  # each tooltip tells its own trial's end
    assert all("stopped by the user" not in tip for tip in tips)
    assert any("diverged after 37 steps" in tip for tip in tips)
    assert "best test accuracy" in panel.verdict.text() and "92" in panel.verdict.text()

    qtbot.mouseClick(panel.apply_button, Qt.LeftButton)
    assert {layer.activation for layer in win.document.spec.network.layers} == {"relu"}
