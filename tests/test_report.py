"""The shareable report: one self-contained HTML page (no fetch, figures embedded), the run's facts, every finding
with its evidence and advice, the figures, a compared pair side by side; checked in a real headless Chromium
(screenshot pixels), not only by parsing."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from tests.report_runs import vanishing_finding, write_run

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A vanishing run with a finding (one resolved), a healthy run, and a run whose names are HTML."""
    import dataclasses

    base = tmp_path_factory.mktemp("runs")
    active = vanishing_finding()
    resolved = dataclasses.replace(vanishing_finding(message="The loss was flat."), kind="loss_plateau")
    object.__setattr__(resolved, "state", "resolved")  # findings have a life: read with getattr defaults
    object.__setattr__(resolved, "last_step", 30)
    write_run(base / "vanishing", findings=[active, resolved], layers=4, records=40, steps_per_epoch=10)
    write_run(base / "healthy", layers=4, records=30, steps_per_epoch=10, seed=3, extreme=3)
    write_run(base / HOSTILE.replace("/", "_"), layers=2, records=5,
              layer_names=[HOSTILE, "<b>out</b>"], findings=[vanishing_finding(label=HOSTILE, message=HOSTILE)])
    return base


@pytest.fixture(scope="module")
def compared(runs, tmp_path_factory):
    """The report of the vanishing and the healthy run, written by the command."""
    from vg_studio.cli import main

    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(runs / "vanishing"), str(runs / "healthy"), "--out", str(out)]) == 0
    return out


def test_the_page_holds_facts_findings_and_figures_and_fetches_nothing(compared):
    page = compared.read_text(encoding="utf-8")
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)  # nothing to fetch
    assert "<script" not in page.lower() and "@import" not in page and "url(" not in page
    for text in ("The gradient vanishes in h1.", "ratio = 0.00015", "Use ReLU with He initialisation.",
                 "loss plateau", "final val accuracy", "CPU (synthetic)"):
        assert text in page, text
    figures = re.findall(r'data-figure="([^"]+)"', page)
    assert figures == ["loss", "accuracy", "gradients", "weight-change", "heatmap", "distribution-over-time",
                       "distribution-per-layer", "network"]


def test_a_finding_shows_its_life(runs):
    """First and latest step, active or resolved."""
    import dataclasses

    from vg_studio.report.html import finding_html

    finding = vanishing_finding()
    assert "from step 5 —" not in finding_html(finding) and "resolved" not in finding_html(finding)

    lived = dataclasses.replace(finding, last_step=30, state="resolved")
    text = finding_html(lived)
    assert "from step 5 to step 30 (resolved)" in text and "vgs-finding warning resolved" in text


def test_it_renders_inline_in_a_notebook_and_escapes_every_name_from_the_run(runs):
    import vg_studio

    report = vg_studio.report(runs / HOSTILE.replace("/", "_"))
    fragment = report._repr_html_()
    assert fragment.startswith('<div class="vgs-report">') and "<html" not in fragment
    assert fragment.count("data:image/png;base64,") == 8
    for page in (fragment, report.html()):
        assert HOSTILE not in page and "<b>out</b>" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_compared_runs_share_one_colour_scale_and_carry_distinct_titles(runs):
    from vg_studio.report import figures as F
    from vg_studio.report.run import RunView

    a, b = RunView.open(runs / "vanishing"), RunView.open(runs / "healthy")
    b.name = a.name  # the same name twice (a run and its fix, both "run")
    heatmap = F.FIGURES["heatmap"]
    assert F.shared_scale_by_default([a, b])
    levels = F.robust_levels([F.log10_magnitude(F.heatmap_source(heatmap, r)[1]) for r in (a, b)])
    alone = F.robust_levels([F.log10_magnitude(a.stat("grad_mean_abs"))])
    assert levels[1] > alone[1] + 2  # the healthy run's larger gradients widen the one scale
    titles = F.run_titles(heatmap.title, [a, b])
    assert len(set(titles)) == 2


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        pytest.skip("Chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    return found


def screenshot(page, tmp_path, name: str, height: int = 4200):
    from PIL import Image

    shot = tmp_path / f"{name}.png"
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / ('profile-' + name)}", "--hide-scrollbars",
               f"--window-size=1200,{height}", f"--screenshot={shot}", page.as_uri()]
    subprocess.run(command, capture_output=True, timeout=120)
    assert shot.is_file(), "Chromium wrote no screenshot"
    return np.asarray(Image.open(shot).convert("RGB")).astype(int)


def near(pixels, color: str, tolerance: int = 18) -> np.ndarray:
    rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
    return (np.abs(pixels - rgb).max(axis=2) <= tolerance)


def test_chromium_draws_the_figures_and_readable_text(compared, tmp_path):
    from vg_studio.report.palette import line_color, run_color

    page = compared
    blank = tmp_path / "blank.html"  # the same page with every figure's data removed
    blank.write_text(re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:,", page.read_text()))
    drawn, empty = screenshot(page, tmp_path, "drawn"), screenshot(blank, tmp_path, "empty")
    # the figures are pixels: the runs' colours (curves) and the heatmap's colour map, absent without them
    for color in (line_color(run_color(i), "#ffffff") for i in range(2)):
        assert near(drawn, color).sum() > 3000 and near(empty, color).sum() < 600, color
    viridis_yellow, viridis_purple = "#fde725", "#440154"
    assert near(drawn, viridis_yellow, 40).sum() + near(drawn, viridis_purple, 30).sum() > 2000
    assert (np.abs(drawn - empty).max(axis=2) > 40).mean() > 0.04  # a good part of the page is figures
    # readable text: the title is dark on white and at least 16 px tall
    top = drawn[:80]
    dark_rows = np.flatnonzero((top.max(axis=2) < 90).sum(axis=1) > 3)
    assert len(dark_rows) and dark_rows[-1] - dark_rows[0] >= 16
    assert (drawn[:, :, :].mean(axis=2) > 240).mean() > 0.4  # a light page: dark text on it reads
