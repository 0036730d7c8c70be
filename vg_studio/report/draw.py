"""The figures of `vg_studio.report.figures` drawn with matplotlib (no Qt, no display): PNG or SVG bytes for the
HTML report and for notebooks. Several runs are overlaid in one plot; figures drawn once per run (heatmaps, ridges,
the network) stand side by side on one shared colour scale.
"""

from __future__ import annotations

import io

import numpy as np

from vg_studio.report import figures as F
from vg_studio.report.decimate import overview_of
from vg_studio.report.palette import theme_colors

WIDTH_IN, HEIGHT_IN, DPI = 7.2, 3.4, 100
FAINT_ALPHA, LEGEND_FAINT_ALPHA = F.FAINT_ALPHA, F.LEGEND_FAINT_ALPHA


def render(figure: F.Figure, runs: list, theme: str = "light", fmt: str = "png", layer: int = 0,
           label: str | None = None, dpi: int = DPI) -> bytes:
    """`figure` of `runs` as PNG or SVG bytes, landscape. `layer`: the layer of the distribution over time;
    `label`: a line above the figure (the exported file's run names)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    colors = theme_colors(theme)
    style = {"background": colors["plot_background"], "foreground": colors["plot_foreground"]}
    panels = runs[:F.MAX_MAPS] if figure.one_per_run else [runs]
    columns = min(len(panels), 3)
    rows = -(-len(panels) // columns)
    fig = MplFigure(figsize=(WIDTH_IN, HEIGHT_IN * rows if columns > 1 or rows > 1 else HEIGHT_IN), dpi=dpi,
                    facecolor=style["background"], layout="constrained")
    if label:
        fig.suptitle(label, x=0.01, ha="left", fontsize=9, color=style["foreground"])
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    shared = _shared_levels(figure, runs) if figure.one_per_run and F.shared_scale_by_default(runs) else None
    titles = F.run_titles(figure.title, runs) if figure.one_per_run else [figure.title]
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for i, (ax, panel) in enumerate(zip(axes, panels)):
        _style_axes(ax, style)
        draw = _DRAWERS[figure.kind]
        if figure.one_per_run:
            draw(fig, ax, figure, panel, style, titles[i], shared, several=len(runs) > 1)
        else:
            draw(fig, ax, figure, panel, style, layer)
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG text stays text: searchable, and small
        fig.savefig(buffer, format=fmt, facecolor=style["background"])
    return buffer.getvalue()


def _style_axes(ax, style: dict) -> None:
    ax.set_facecolor(style["background"])
    for spine in ax.spines.values():
        spine.set_color(style["foreground"])
    ax.tick_params(colors=style["foreground"], labelsize=8)
    ax.xaxis.label.set_color(style["foreground"])
    ax.yaxis.label.set_color(style["foreground"])
    ax.title.set_color(style["foreground"])
    ax.grid(True, alpha=0.25, color=style["foreground"], linewidth=0.6)


def _labels(ax, figure: F.Figure, title: str, style: dict) -> None:
    ax.set_title(title, fontsize=10, color=style["foreground"], loc="left")
    ax.set_xlabel(figure.x_label, fontsize=9)
    ax.set_ylabel(figure.y_label, fontsize=9)


def _legend(ax, style: dict) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        legend = ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        for text in legend.get_texts():
            text.set_color(style["foreground"])
        for handle in legend.legend_handles:  # a faint line's sample: a few points of a thin line need more ink
            if handle is not None and (handle.get_alpha() or 1.0) < LEGEND_FAINT_ALPHA:
                handle.set_alpha(LEGEND_FAINT_ALPHA)


def _line(ax, x, y, marker_size: float = 4, **kwargs):
    """A line, or a marker where the series has a single point (a line of one point draws nothing)."""
    finite = np.isfinite(x) & np.isfinite(y)
    marker = kwargs.pop("marker", None)
    if F.marker_needed(int(finite.sum())) and marker is None:
        marker = "o"
    return ax.plot(x, y, marker=marker, markersize=marker_size, **kwargs)


# ---- overlaid figures ---------------------------------------------------------------------------------------
def _metric(fig, ax, figure: F.Figure, runs: list, style: dict, _layer) -> None:
    several = len(runs) > 1
    for i, run in enumerate(runs):
        color = F.run_line_color(run, style["background"])
        steps, means, smooth = run.training_curve(figure.source)
        prefix = f"{run.name}: " if several else ""
        if F.draws_batches(figure, run):
            _batch_losses(ax, run, i, color, prefix)
        elif np.isfinite(means).any():
            ax.plot(steps, means, color=color, alpha=FAINT_ALPHA, linewidth=0.8)
            legend = F.BATCH_LEGEND["without-batches"] if figure.source == "loss" else F.METRIC_LEGEND["smooth"]
            _line(ax, steps, smooth, color=color, linewidth=2, label=prefix + legend)
        else:
            train = run.epoch_metric(figure.source)
            if np.isfinite(train).any():
                ax.plot(F.epoch_steps(run, len(train)), train, color=color, linewidth=2, marker="^",
                        label=prefix + F.METRIC_LEGEND["epoch-train"])
        val = run.epoch_metric(f"val_{figure.source}")
        if np.isfinite(val).any():
            ax.plot(F.epoch_steps(run, len(val)), val, color=color, linewidth=1.5, linestyle="--", marker="o",
                    markersize=4, label=prefix + F.METRIC_LEGEND["val"])
    longest = max(runs, key=lambda r: r.num_records, default=None)
    for start in F.epoch_starts(longest):
        ax.axvline(start, color=style["foreground"], alpha=0.3, linestyle=":", linewidth=0.8)
    if figure.y_limits:
        ax.set_ylim(*figure.y_limits)
    _labels(ax, figure, figure.title, style)
    _legend(ax, style)


def _batch_losses(ax, run, index: int, color, prefix: str) -> None:
    """Each batch's own loss (faint) and its smoothed line, as the app draws them. A long run is drawn through its
    min/max envelope (`decimate`: at most 2 × CAPACITY points a line, every spike kept), so an SVG stays small.
    The lines' SVG ids name them (`loss-batches-<run>`, `loss-batch-smooth-<run>`, the run's place in the figure)."""
    steps, _, losses, smooth = run.batch_loss_curve()
    faint = _line(ax, *overview_of(steps, losses).envelope(), color=color, alpha=FAINT_ALPHA,
                  linewidth=0.8, label=prefix + F.BATCH_LEGEND["batches"])
    line = _line(ax, *overview_of(steps, smooth).envelope(), color=color, linewidth=2,
                 label=prefix + F.BATCH_LEGEND["batch-smooth"])
    faint[0].set_gid(f"loss-batches-{index}")
    line[0].set_gid(f"loss-batch-smooth-{index}")


def _layers(fig, ax, figure: F.Figure, runs: list, style: dict, _layer) -> None:
    import matplotlib

    cmap = matplotlib.colormaps[F.LAYER_COLORMAP]
    several, subset = len(runs) > 1, None
    for run in runs:
        values = run.stat(figure.source)
        count = values.shape[1] if values.ndim == 2 and values.size else 0
        if count == 0:
            continue
        layers = F.chosen_layers(count, (), F.lines_per_run(runs))
        if len(layers) < count:
            subset = (len(layers), count)
        for layer in reversed(layers):  # output first in the legend, as in the app
            if several:
                color = F.overlaid_layer_color(run, layer, count, style["background"])
                label = run.name if layer == layers[-1] else None
            else:
                color = cmap(F.layer_color_position(layer, count, style["background"]))
                label = run.display_names[layer]
            _line(ax, run.record_steps, F.positive(values[:, layer]), color=color, linewidth=1.4, label=label)
    if several:
        ax.plot([], [], " ", label=F.DEPTH_NOTE)
    ax.set_yscale("log")
    _labels(ax, figure, F.layers_title(figure, subset), style)
    _legend(ax, style)


def _distribution_over_time(fig, ax, figure: F.Figure, runs: list, style: dict, layer: int) -> None:
    several = len(runs) > 1
    name = ""
    for run in runs:
        hist = run.stat(figure.source)
        if hist.ndim != 3 or layer >= hist.shape[1] or not len(hist):
            continue
        name = name or run.display_names[layer]
        qs = 10.0 ** F.quantiles_from_histograms(hist[:, layer], run.hist_edges)
        x = run.record_steps
        color = F.run_line_color(run, style["background"])
        for low, high in ((2, 4),) if several else ((0, 6), (1, 5), (2, 4)):
            ax.fill_between(x, qs[:, low], qs[:, high], color=color, alpha=0.18 if several else 0.15 + 0.1 * low,
                            linewidth=0)
        _line(ax, x, qs[:, 3], color=color, linewidth=2, label=f"{run.name}: median" if several else "median")
    ax.set_yscale("log")
    _labels(ax, figure, F.distribution_title(name, several), style)
    _legend(ax, style)


# ---- one panel per run ----------------------------------------------------------------------------------------
def _shared_levels(figure: F.Figure, runs: list):
    if figure.kind in ("heatmap", "time-heatmap"):
        return F.robust_levels([F.log10_magnitude(F.heatmap_source(figure, r)[1]) for r in runs])
    if figure.kind == "network":
        return F.network_levels(runs, figure.source)
    return None


def _title_with_swatch(ax, title: str, run, style: dict, several: bool) -> None:
    """The title; with compared runs, after a square of the run's colour (the runs' names alone can be alike)."""
    if not several:
        ax.set_title(title, fontsize=10, color=style["foreground"], loc="left")
        return
    ax.set_title("■", fontsize=11, color=run.color, loc="left")
    room = int(ax.get_position().width * ax.figure.get_figwidth() * 72 / 6.5)  # characters of ~6.5 pt
    if len(title) > room:  # the run's name matters more than the figure's name, which the caption says
        title = title.split(": ", 1)[-1]
    text = title if len(title) <= room else title[:max(room - 1, 8)] + "…"
    label = ax.annotate(text, xy=(0, 1), xycoords="axes fraction", xytext=(14, 6), textcoords="offset points",
                        fontsize=10, color=style["foreground"], va="bottom", annotation_clip=False)
    label.set_in_layout(False)  # the square's title reserves the line


def _heatmap(fig, ax, figure: F.Figure, run, style: dict, title: str, shared, several: bool) -> None:
    steps, values = F.heatmap_source(figure, run)
    _title_with_swatch(ax, title, run, style, several)
    ax.set_xlabel(figure.x_label, fontsize=9)
    ax.set_ylabel(figure.y_label, fontsize=9)
    ax.grid(False)
    if values.size == 0 or not np.isfinite(values).any():
        return
    logs = F.log10_magnitude(values).T  # (rows, records)
    levels = shared or F.robust_levels([logs]) or (-8.0, 0.0)
    rows = logs.shape[0]
    x0, x1 = float(steps[0]), float(steps[-1])
    half = (x1 - x0) / max(len(steps) - 1, 1) / 2 if len(steps) > 1 else 0.5
    image = ax.imshow(np.maximum(logs, levels[0] - 1), aspect="auto", origin="lower", cmap=figure.colormap,
                      vmin=levels[0], vmax=levels[1], extent=(x0 - half, x1 + half, 0.5, rows + 0.5),
                      interpolation="nearest")
    labels = F.heatmap_row_labels(figure, run, rows)
    height_px = ax.get_position().height * fig.get_figheight() * fig.dpi
    shown = F.labelled_rows(rows, height_px, 11)
    ax.set_yticks([r + 1 for r in shown], [labels[r] for r in shown])
    bar = fig.colorbar(image, ax=ax, pad=0.01, fraction=0.05)
    bar.set_label(F.scale_label(figure.quantity, shared is not None), color=style["foreground"], fontsize=7)
    bar.ax.tick_params(colors=style["foreground"], labelsize=7)
    bar.outline.set_edgecolor(style["foreground"])


def _distribution_per_layer(fig, ax, figure: F.Figure, run, style: dict, title: str, _shared, several) -> None:
    hist = run.stat(figure.source)
    _title_with_swatch(ax, title, run, style, several)
    ax.set_xlabel(figure.x_label, fontsize=9)
    ax.set_ylabel(figure.y_label, fontsize=9)
    if hist.ndim != 3 or not len(hist):
        return
    edges = run.hist_edges
    layers = F.ridge_layers(hist.shape[1])
    latest, first = F.latest_histograms(hist), F.first_histograms(hist)
    color = F.run_line_color(run, style["background"])
    for row, layer in enumerate(layers):
        now, start = latest[layer], first[layer]
        scale = 0.9 / max(np.nanmax(np.r_[now, start, 1e-12]), 1e-12)
        if np.isfinite(now).any():
            ax.stairs(row + 1 + np.nan_to_num(now) * scale, edges, baseline=row + 1, fill=True, color=color,
                      alpha=0.6)
        if np.isfinite(start).any():
            ax.stairs(row + 1 + np.nan_to_num(start) * scale, edges, baseline=row + 1, color=style["foreground"],
                      linestyle="--", linewidth=0.8)
    names = run.display_names
    height_px = ax.get_position().height * fig.get_figheight() * fig.dpi
    shown = F.labelled_rows(len(layers), height_px, 11)
    ax.set_yticks([r + 1 for r in shown], [names[layers[r]] for r in shown])
    width_px = ax.get_position().width * fig.get_figwidth() * fig.dpi
    every = max(2, int(F.tick_step(edges[-1] - edges[0], width_px, 30)))  # labels never run together
    ticks = list(range(int(edges[0]), int(edges[-1]) + 1, every))
    ax.set_xticks(ticks, [f"1e{t}" for t in ticks], rotation=0)


def _network(fig, ax, figure: F.Figure, run, style: dict, title: str, shared, several: bool) -> None:
    import matplotlib
    from matplotlib.patches import FancyBboxPatch

    cmap = matplotlib.colormaps[figure.colormap]
    _title_with_swatch(ax, title, run, style, several)
    ax.set_axis_off()
    count = len(run.layer_names)
    values = run.stat(figure.source)
    latest = F.latest_per_layer(values, count)
    levels = shared or F.network_levels([run], figure.source)
    units = [u for u in run.layer_units if u]
    biggest = max(units) if units else None
    slots = count + 1
    for i in range(slots):
        x = i / slots
        if i == 0:
            height = 0.35
            box = FancyBboxPatch((x + 0.01, 0.5 - height / 2), 0.8 / slots, height, boxstyle="round,pad=0.005",
                                 facecolor=style["background"], edgecolor=style["foreground"], linestyle="--")
            ax.add_patch(box)
            ax.text(x + 0.01 + 0.4 / slots, 0.5, "input", ha="center", va="center", fontsize=7,
                    color=style["foreground"])
            continue
        layer = i - 1
        size = run.layer_units[layer] if layer < len(run.layer_units) else None
        height = 0.25 + 0.6 * (np.sqrt(size) / np.sqrt(biggest) if size and biggest else 0.5)
        position = F.colour_position(latest[layer], levels)
        fill = cmap(position) if position is not None else style["background"]
        ax.add_patch(FancyBboxPatch((x + 0.01, 0.5 - height / 2), 0.8 / slots, height, boxstyle="round,pad=0.005",
                                    facecolor=fill, edgecolor=style["foreground"], linewidth=0.6))
        text_color = "black" if position is not None and position > 0.55 else (
            "white" if position is not None else style["foreground"])
        kind = F.kind_label(run.layer_kinds[layer]) if layer < len(run.layer_kinds) else ""
        lines = [run.display_names[layer], kind] + ([f"{latest[layer]:.0e}"] if np.isfinite(latest[layer]) else [])
        ax.text(x + 0.01 + 0.4 / slots, 0.5, "\n".join(lines), ha="center", va="center",
                fontsize=6 if count > 8 else 7, color=text_color)
        ax.annotate("", xy=(x + 0.01, 0.5), xytext=(x - 0.2 / slots + 0.01, 0.5),
                    arrowprops={"arrowstyle": "->", "color": style["foreground"], "lw": 0.8})
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    if levels is not None:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import LogNorm

        mappable = ScalarMappable(LogNorm(10 ** levels[0], 10 ** levels[1]), cmap)
        bar = fig.colorbar(mappable, ax=ax, orientation="horizontal", fraction=0.06, pad=0.02)
        bar.set_label(F.scale_label(figure.quantity, shared is not None), color=style["foreground"], fontsize=7)
        bar.ax.tick_params(colors=style["foreground"], labelsize=7)


_DRAWERS = {"metric": _metric, "layers": _layers, "distribution-over-time": _distribution_over_time,
            "heatmap": _heatmap, "time-heatmap": _heatmap, "distribution-per-layer": _distribution_per_layer,
            "network": _network}
