"""`vg-studio reproduce sdagd|attention`: the paper reproductions from the command line.

`add_arguments(parser)` adds the two sub-commands to the `reproduce` parser; `run(args)` returns the exit code.
Bad input ends with one line on stderr and exit status 2; a grid in which some cells failed still writes its
tables and report and exits with 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vg_studio.text import inert

HIDDEN = argparse.SUPPRESS  # test knobs for tiny CI grids; not part of the documented interface


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _depths(text: str) -> tuple:
    try:
        values = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected depths like 1,2,3, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected depths >= 1 like 1,2,3, got {text!r}")
    return values


def _names(allowed: tuple):
    def parse(text: str) -> tuple:
        values = tuple(p.strip() for p in text.split(",") if p.strip())
        bad = [v for v in values if v not in allowed]
        if bad or not values:
            raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {', '.join(allowed)}, "
                                             f"got {text!r}")
        return values
    return parse


def _common(p: argparse.ArgumentParser, dataset: str, runs: int, out: str) -> None:
    p.add_argument("--dataset", default=dataset,
                   help=f"dataset name (default {dataset}; mnist-5k, digits, shapes10, mnist, npz:PATH …)")
    p.add_argument("--runs", type=_positive, default=runs, help=f"runs with different seeds (default {runs})")
    p.add_argument("--epochs", type=_positive, default=100, help="epochs per run (default 100)")
    p.add_argument("--out", default=out, help=f"output directory (default {out}); re-running resumes it")
    p.add_argument("--jobs", type=_positive, default=1, help="cells trained in parallel processes (default 1)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="send the cells to an existing Ray cluster (e.g. auto or ray://host:10001); needs "
                        "pip install -e '.[cluster]'")
    p.add_argument("--limit", type=_positive, default=None, help=HIDDEN)
    p.add_argument("--units", type=_positive, default=None, help=HIDDEN)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="reproduction", metavar="{sdagd,attention}", required=True)
    from vg_studio.experiments.sdagd import ACTIVATIONS, OPTIMIZERS

    s = sub.add_parser("sdagd", help="Tan & Lim (2019) Table I: SGD vs SDAGD, sigmoid/ReLU, hl-1…hl-5",
                       description="Tan & Lim's (2019) grid hl-1…hl-5 (784-700×L-10) × {sigmoid, ReLU} × "
                                   "{SGD, SDAGD}, batch 100, Xavier init, SGD learning rate 0.1, squared-error loss "
                                   "(eq. 5).")
    _common(s, "mnist", 3, "reproductions/sdagd")
    s.add_argument("--loss", choices=("mse", "sparse_categorical_crossentropy"), default="mse",
                   help="training loss (default mse: the paper's eq. 5 on one-hot targets)")
    s.add_argument("--depths", type=_depths, default=None, help=HIDDEN)
    s.add_argument("--activations", type=_names(ACTIVATIONS), default=None, help=HIDDEN)
    s.add_argument("--optimizers", type=_names(OPTIMIZERS), default=None, help=HIDDEN)

    a = sub.add_parser("attention", help="Wu's attention paper, Tables 1–2: plain DNN vs attention in every hidden "
                                         "layer",
                       description="Wu's attention paper: a 5×256 ReLU DNN against the same DNN with the attention "
                                   "block in every hidden layer; Adam lr 0.001, batch 64.")
    _common(a, "shapes10", 1, "reproductions/attention")
    a.add_argument("--depth", type=_positive, default=None, help=HIDDEN)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        if args.ray:
            _check_ray()
        module, options = _options(args)
        out = Path(args.out)
        cells = module.build_cells(options, out)
        _check_inputs(cells, out)
    except _InputError as exc:
        print(f"vg-studio: error: reproduce {args.reproduction}: {inert(str(exc))}", file=sys.stderr)
        return 2
    from vg_studio.experiments.cells import run_cells

    outcomes = run_cells(cells, jobs=args.jobs, ray_address=args.ray)
    report = module.write_report(options, out, outcomes, started)
    failed = [o for o in outcomes if o.status not in ("completed", "skipped")]
    print(f"{inert(report)} ({len(outcomes) - len(failed)}/{len(outcomes)} cells completed)")
    return 1 if failed else 0


class _InputError(Exception):
    pass


def _options(args):
    if args.reproduction == "sdagd":
        from vg_studio.experiments import sdagd as module

        options = module.GridOptions(dataset=args.dataset, runs=args.runs, epochs=args.epochs, limit=args.limit,
                                     loss=args.loss)
        options.depths = args.depths or options.depths
        options.units = args.units or options.units
        options.activations = args.activations or options.activations
        options.optimizers = args.optimizers or options.optimizers
    else:
        from vg_studio.experiments import attention as module

        options = module.AttentionOptions(dataset=args.dataset, runs=args.runs, epochs=args.epochs,
                                          limit=args.limit)
        options.depth = args.depth or options.depth
        options.units = args.units or options.units
    return module, options


def _check_ray() -> None:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise _InputError("--ray needs the ray package: pip install -e '.[cluster]'")


def _check_inputs(cells, out: Path) -> None:
    """Catch what would fail every cell the same way — a bad spec, a missing dataset, an unwritable --out —
    before starting any."""
    from vg_studio.data import DatasetError, load_dataset
    from vg_studio.spec import SpecError

    try:
        spec = cells[0].spec.check()
        load_dataset(spec.data.dataset, spec.data.options)
    except (SpecError, DatasetError) as exc:
        raise _InputError(str(exc).replace("data.dataset: ", "--dataset: ")) from None
    try:
        (out / "cells").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _InputError(f"--out {out}: cannot create the directory ({exc.strerror or exc})") from None
