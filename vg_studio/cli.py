"""`vg-studio` command line: the GUI by default, and train / diagnose / reproduce / export / spec / info.

Every user error ends in one line on stderr and exit status 2; nothing here prints a traceback for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from vg_studio import __version__, catalog, edits
from vg_studio.limits import LIMITS
from vg_studio.spec import ExperimentSpec, SpecError, example_spec

EXIT_USAGE = 2


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.install_desktop_entry:
        from vg_studio.desktop import install_desktop_entry

        return _guarded(lambda: print(install_desktop_entry()) or 0)
    command = args.command or "gui"
    if command != "gui":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter off the CLI
    return _guarded(lambda: COMMANDS[command](args))


def _guarded(action) -> int:
    from vg_studio.data import DatasetError
    from vg_studio.train.runstore import RunStoreError

    try:
        return int(action() or 0)
    except (CliError, SpecError, DatasetError, RunStoreError) as exc:
        print(f"vg-studio: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a full disk, a read-only folder …: name the file, no traceback
        text = f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
        print(f"vg-studio: error: {text}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vg-studio: interrupted", file=sys.stderr)
        return 130


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vg-studio", description="See, diagnose and fix vanishing and exploding gradients. "
                                      "Without a command the desktop app opens.")
    parser.add_argument("--version", action="version", version=f"vg-studio {__version__}")
    parser.add_argument("--install-desktop-entry", action="store_true",
                        help="install a .desktop launcher and icon for the current user, then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the desktop app (the default)")
    gui.add_argument("path", nargs="?", help="a spec .json or a run directory to open")

    train = sub.add_parser("train", help="train a network and write a run directory",
                           description="Train from a spec file and/or quick flags (flags override the spec).")
    train.add_argument("--spec", help="experiment spec JSON (default: the built-in example)")
    train.add_argument("--out", required=True, help="run directory to write")
    train.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    train.add_argument("--dataset", help=f"dataset: {', '.join(catalog.DATASETS)}, npz:PATH, folder:PATH")
    train.add_argument("--limit", type=int, help="use at most this many training examples")
    train.add_argument("--length", type=int, help="time steps of the sequence tasks (adding, recall)")
    train.add_argument("--layers", type=int, help="number of hidden layers (all alike)")
    train.add_argument("--units", type=int, help="units per hidden layer")
    train.add_argument("--kind", choices=catalog.LAYER_KINDS, help="hidden layer kind (dense or recurrent)")
    train.add_argument("--activation", choices=catalog.ACTIVATIONS)
    train.add_argument("--initializer", choices=list(catalog.INITIALIZERS))
    train.add_argument("--attention", action=argparse.BooleanOptionalAction, default=None,
                       help="the attention block (Wu, attention mechanism) in every dense hidden layer")
    train.add_argument("--optimizer", choices=list(catalog.OPTIMIZERS))
    train.add_argument("--lr", type=float, help="learning rate")
    train.add_argument("--clipnorm", type=float)
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--record-every", type=int, help="training steps between probe records")
    train.add_argument("--quiet", action="store_true", help="print only the final summary")
    train.add_argument("--json", action="store_true", help="print the final report as JSON")

    spec = sub.add_parser("spec", help="print or check an experiment spec, or print its JSON Schema")
    group = spec.add_mutually_exclusive_group(required=True)
    group.add_argument("--example", action="store_true", help="print a complete example spec")
    group.add_argument("--check", metavar="FILE", help="validate a spec file (every problem, with its path)")
    group.add_argument("--schema", action="store_true", help="print the JSON Schema of a spec file")

    sub.add_parser("info", help="versions, Keras backend and visible GPUs")

    export = sub.add_parser("export", help="copy a run's trained model to a .keras file")
    export.add_argument("run_dir")
    export.add_argument("--to", required=True, help="destination .keras path")

    diagnose = sub.add_parser("diagnose", help="diagnose a run directory's history")
    reproduce = sub.add_parser("reproduce", help="reproduce the papers' tables (Tan & Lim's SDAGD, Wu's attention)")
    # Their modules may import Keras: load them only when that command runs, so every other command stays fast.
    chosen = next((a for a in (argv or []) if not a.startswith("-")), None)
    if chosen == "diagnose":
        _add_optional(diagnose, "vg_studio.diagnose.cli")
    elif chosen == "reproduce":
        _add_optional(reproduce, "vg_studio.experiments.cli")
    return parser


def _add_optional(parser: argparse.ArgumentParser, module: str) -> None:
    """Subcommands whose arguments live beside their implementation."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        parser.set_defaults(_missing=module)
        return
    mod.add_arguments(parser)
    parser.set_defaults(_module=mod)


# ---- commands ----------------------------------------------------------------------------------------------
def cmd_gui(args) -> int:
    try:
        from vg_studio.gui.app import main as gui_main
    except ImportError as exc:
        raise CliError(f"the desktop app cannot start: {exc}") from None
    return gui_main([args.path] if getattr(args, "path", None) else [])


def spec_from_args(args) -> ExperimentSpec:
    spec = ExperimentSpec.load(args.spec) if args.spec else example_spec()
    if args.dataset:
        spec = edits.set_dataset(spec, args.dataset)
    for option in ("limit", "length"):
        if getattr(args, option) is not None:
            spec = edits.set_data_option(spec, option, getattr(args, option))
    if args.layers is not None:
        if not 0 <= args.layers <= LIMITS.layers:  # refused before a single layer is built
            raise CliError(f"--layers: must be between 0 and {LIMITS.layers} (the limit layers; VG_STUDIO_LIMITS "
                           "raises it)")
        spec = edits.set_depth(spec, args.layers)
    if args.kind:
        spec = edits.set_kind(spec, args.kind)
    if args.activation:
        spec = edits.set_activation(spec, args.activation, initializer=args.initializer)
    elif args.initializer:
        spec = edits.update_layers(spec, None, initializer=args.initializer)
    if args.units is not None:
        spec = edits.update_layers(spec, None, units=args.units)
    if args.attention is not None:
        spec = edits.update_layers(spec, None, attention=args.attention)
    if args.optimizer:
        spec = edits.set_optimizer(spec, args.optimizer)
    for flag, path in (("lr", "optimizer.learning_rate"), ("epochs", "training.epochs"),
                       ("batch_size", "training.batch_size"), ("seed", "training.seed"),
                       ("record_every", "monitoring.record_every")):
        if getattr(args, flag) is not None:
            spec = edits.set_field(spec, path, getattr(args, flag))
    if args.clipnorm is not None:
        spec = edits.set_clipping(spec, "clipnorm", args.clipnorm)
    return checked(spec)


def checked(spec: ExperimentSpec) -> ExperimentSpec:
    """The spec if it is valid, including the names of its diagnostic thresholds (which the rules own)."""
    from vg_studio.diagnose.engine import resolve_config

    problems = spec.validate()
    try:
        resolve_config({name: 0.0 for name in spec.diagnostics})  # the names; the spec checked the values
    except SpecError as exc:
        problems += exc.problems
    if problems:
        raise SpecError(problems)
    return spec


def cmd_train(args) -> int:
    spec = spec_from_args(args)
    from pathlib import Path

    from vg_studio.train.rundir import check_writable_target

    check_writable_target(Path(args.out), args.overwrite)  # before TensorFlow loads: a refusal is instant
    with run_dir_lock(args.out):
        from vg_studio.diagnose.listener import DiagnosisListener
        from vg_studio.train.trainer import Trainer

        printer = _TrainPrinter(quiet=args.quiet or args.json)
        trainer = Trainer(spec, run_dir=args.out, listeners=[DiagnosisListener(), printer])
        result = _run_with_ctrl_c(trainer)
    if args.json:
        print(json.dumps(result.report, indent=2, default=str))
    else:
        printer.summary(result)
    return 0 if result.status in ("completed", "cancelled") else 1


def _run_with_ctrl_c(trainer):
    """The first Ctrl-C stops training after the current batch — the run is recorded as "cancelled" with its model
    and history; a second one interrupts at once."""
    import signal

    def cancel(signum, frame):
        print("\nstopping after the current batch (Ctrl-C again to abort)", file=sys.stderr, flush=True)
        trainer.cancel()
        signal.signal(signal.SIGINT, previous)

    try:
        previous = signal.signal(signal.SIGINT, cancel)
    except ValueError:  # not the main thread: no handler, Ctrl-C behaves as usual
        return trainer.run()
    try:
        return trainer.run()
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def run_dir_lock(run_dir: str):
    """Refuse a second `train` into a directory another process is writing (the OS drops the lock if it dies)."""
    from vg_studio.train.rundir import locked

    with locked(run_dir):  # the trainer's RunStore shares this process's lock
        yield


class _TrainPrinter:
    """Prints epoch lines and findings as they appear."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.layer_names: list[str] = []
        self.last_record = None

    def __call__(self, event) -> None:
        from vg_studio.train import events

        if isinstance(event, events.ProbeRecord):
            self.last_record = event
        if self.quiet:
            return
        if isinstance(event, events.RunStarted):
            self.layer_names = event.layer_names
            print(f"training {event.param_count:,} parameters on {event.sample_count:,} examples, "
                  f"{event.epochs} epochs x {event.steps_per_epoch} steps, device: {event.device}", flush=True)
        elif isinstance(event, events.EpochEnd):
            logs = event.logs
            parts = [f"{k} {logs[k]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs]
            grads = ""
            if self.last_record is not None:
                g = self.last_record.stats["grad_mean_abs"]
                grads = f" | mean|g| first {g[0]:.2e} last {g[-1]:.2e}"
            print(f"epoch {event.epoch + 1}: " + ", ".join(parts) + grads, flush=True)
        elif isinstance(event, events.FindingsUpdated):
            for finding in event.new:
                print(f"  finding: {_format_finding(finding)}", flush=True)

    def summary(self, result) -> None:
        report = result.report
        print(f"{result.status}: {result.message}")
        metrics = report.get("test_metrics")
        if metrics:
            print(f"test accuracy {metrics['accuracy']:.4f}, misclassification {metrics['misclassification_rate']:.4f}, "
                  f"recall {metrics['recall_macro']:.4f}, F1 {metrics['f1_macro']:.4f}, "
                  f"{metrics['images_per_second']:.0f} images/s")
        if self.last_record is not None:
            g = self.last_record.stats["grad_mean_abs"]
            print("mean |gradient| per layer at the last record: " + ", ".join(
                f"{name} {value:.2e}" for name, value in zip(result.history.layer_names, g)))
        if result.run_dir:
            print(f"run written to {result.run_dir}")


def _format_finding(finding) -> str:
    try:
        from vg_studio.diagnose.cli import format_finding
    except ImportError:
        return str(finding)
    return format_finding(finding)


def cmd_spec(args) -> int:
    if args.example:
        print(example_spec().to_json())
        return 0
    if args.schema:
        from vg_studio.spec import json_schema

        print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
        return 0
    spec = ExperimentSpec.load(args.check)
    try:
        checked(spec)
    except SpecError as exc:
        raise SpecError(exc.problems, args.check) from None
    print(f"{args.check}: valid ({len(spec.network.layers)} hidden layers, {spec.optimizer.name}, "
          f"{spec.data.dataset})")
    return 0


def cmd_info(args) -> int:
    from vg_studio.train.device import versions, visible_gpus

    info = versions()
    info["gpus"] = visible_gpus() or ["none visible"]
    for key, value in info.items():
        print(f"{key}: {', '.join(value) if isinstance(value, list) else value}")
    return 0


def cmd_export(args) -> int:
    import shutil
    from pathlib import Path

    source = Path(args.run_dir) / "model.keras"
    if not source.is_file():
        raise CliError(f"{source}: no trained model in this run directory")
    destination = Path(args.to)
    if destination.suffix != ".keras":
        raise CliError(f"--to: {destination} must end in .keras")
    tmp = destination.with_name(f".{destination.name}.tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, destination)
    except OSError as exc:
        raise CliError(f"{destination}: cannot write ({exc.strerror or exc})") from None
    print(f"exported {destination}")
    return 0


def _cmd_delegated(args) -> int:
    if getattr(args, "_missing", None):
        raise CliError(f"this command is not available in this build ({args._missing} is missing)")
    return args._module.run(args)


COMMANDS = {"gui": cmd_gui, "train": cmd_train, "spec": cmd_spec, "info": cmd_info, "export": cmd_export,
            "diagnose": _cmd_delegated, "reproduce": _cmd_delegated}

if __name__ == "__main__":
    sys.exit(main())
