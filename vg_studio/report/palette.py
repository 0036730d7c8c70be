"""Colours of the figures, the same in the app and the report: one colour per run, layer colours by depth, and the
light and dark themes' plot colours.

Plain "#rrggbb" strings and no Qt, pyqtgraph or matplotlib import: the runs list uses this before the plots load,
and the report draws with matplotlib. The run colours are Tableau 10 (Stone, 2016): distinct hues of medium
lightness that stay apart for the common kinds of colour blindness better than the rainbow. Every line drawn on a
plot keeps a contrast of at least 3:1 (WCAG's minimum for graphics) with the plot's background, in both themes.
"""

from __future__ import annotations

import functools
import itertools
import json

RUN_COLORS = ("#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
              "#ff9da7", "#bab0ac")
MIN_CONTRAST = 3.0  # line against background

# Layer colours come from a perceptual colour map, early layers at `start`, late ones at `end`: the stretch of
# "plasma" that keeps 3:1 against each theme's background (its dark indigo end vanishes on the dark background,
# its yellow end on the white one).
LAYER_COLORMAP = "plasma"
LAYER_RANGE = {"light": (0.0, 0.6), "dark": (0.42, 1.0)}
# Overlaid runs: the run's own hue, mixed towards black near the input and towards white near the output.
SHADE_RANGE = {"light": (-0.5, 0.2), "dark": (-0.15, 0.55)}
# Heatmaps and the network diagram: log10 |gradient| on a sequential map whose dark end means "small".
HEATMAP_COLORMAP = "viridis"
TIME_HEATMAP_COLORMAP = "inferno"

_next_index = itertools.count()


def run_color(index: int) -> str:
    return RUN_COLORS[index % len(RUN_COLORS)]


def next_run_color() -> str:
    """The colour of the next run of this session: runs keep their colour when others are added or removed."""
    return run_color(next(_next_index))


def shade(color: str, amount: float) -> str:
    """The colour mixed towards black (amount < 0) or white (amount > 0), |amount| ≤ 1: layer depth within a run."""
    rgb = _rgb(color)
    target = 255 if amount > 0 else 0
    return _hex([c + (target - c) * abs(amount) for c in rgb])


def luminance(color: str) -> float:
    """WCAG relative luminance of "#rrggbb"."""
    def linear(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1 … 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@functools.lru_cache(maxsize=4096)
def readable(color: str, background: str, minimum: float = MIN_CONTRAST) -> str:
    """`color`, mixed towards black on a light background (towards white on a dark one) just enough to keep
    `minimum` contrast with it."""
    if contrast(color, background) >= minimum:
        return color
    direction = -1 if luminance(background) > 0.18 else 1
    for step in range(1, 21):
        mixed = shade(color, direction * step / 20)
        if contrast(mixed, background) >= minimum:
            return mixed
    return shade(color, direction)


def theme_of(background: str) -> str:
    """"dark" or "light": the theme a plot background belongs to."""
    return "dark" if luminance(background) < 0.18 else "light"


def layer_position(index: int, count: int, theme: str = "light") -> float:
    """Where layer `index` of `count` sits on LAYER_COLORMAP (0…1): early layers at one end, late at the other."""
    start, end = LAYER_RANGE.get(theme, LAYER_RANGE["light"])
    return start + (end - start) * index / max(count - 1, 1)


def run_layer_color(run_color_: str, index: int, count: int, background: str = "#ffffff") -> str:
    """Overlaid runs: the run's own hue, darker near the input and lighter near the output, readable on
    `background`."""
    low, high = SHADE_RANGE[theme_of(background)]
    return readable(shade(run_color_, low + (high - low) * index / max(count - 1, 1)), background)


def line_color(run_color_: str, background: str = "#ffffff") -> str:
    """A run's colour as a line on `background` (its own colour unless that would not read)."""
    return readable(run_color_, background)


@functools.lru_cache(maxsize=4)
def theme_colors(name: str) -> dict:
    """A theme's colours (resources/themes/<name>.json): plot_background, plot_foreground, …"""
    from vg_studio.resources import THEMES

    fallback = {"light": {"plot_background": "#ffffff", "plot_foreground": "#333333"},
                "dark": {"plot_background": "#17191c", "plot_foreground": "#c8c8c8"}}
    try:
        return dict(json.loads((THEMES / f"{name}.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return dict(fallback.get(name, fallback["light"]))


def _rgb(color: str) -> list[int]:
    color = color.lstrip("#")
    return [int(color[i:i + 2], 16) for i in (0, 2, 4)]


def _hex(rgb) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)
