"""`vg-studio` command line: the GUI by default, and train / diagnose / reproduce / export / spec / info.

Every user error ends in one line on stderr and exit status 2; nothing here prints a traceback for bad input.
Ctrl-C and SIGTERM end any command quietly (exit 130 / 143); during training the first one stops after the current
batch and the run is recorded as cancelled, a second one stops at once. The imports at the top are light on
purpose: a Ctrl-C in the first instant must find `main` already guarding.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING


def _signal_line(signum: int) -> str:
    """The last line of a command a signal ended."""
    return "vg-studio: terminated" if signum == signal.SIGTERM else "vg-studio: interrupted"


def _quit_at_once(signum, frame):  # pragma: no cover - exercised by the signal tests in a subprocess
    os.write(2, f"{_signal_line(signum)}\n".encode())
    os._exit(128 + signum)


# Run as a program, a Ctrl-C (or SIGTERM) that comes while Python is still loading this module ends it quietly:
# nothing has been written yet. `main` replaces this with handlers that clean up after themselves.
if __name__ == "__main__" or os.path.basename(sys.argv[0] if sys.argv else "") in ("vg-studio", "vg-studio.exe"):
    for _sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_sig, _quit_at_once)

import argparse  # noqa: E402
import contextlib  # noqa: E402
# pydantic's compiled core imports `datetime` through the C API when it is first loaded; a Ctrl-C landing inside
# that import makes the Rust extension panic and print its own lines. Loaded here, while Ctrl-C still ends the
# program at once, the later import finds it ready and runs no Python code.
import datetime  # noqa: E402, F401
import json  # noqa: E402

from vg_studio import __version__, catalog  # noqa: E402
from vg_studio.interrupts import SignalStop, exit_at_once  # noqa: E402
from vg_studio.startup import Interrupted  # noqa: E402
from vg_studio.text import inert, one_line  # noqa: E402

if TYPE_CHECKING:
    from vg_studio.spec import ExperimentSpec

EXIT_USAGE = 2
EXIT_FAILED = 1  # a run that failed, or an error no check foresaw
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    for stream in (sys.stdout, sys.stderr):  # a name in any script prints, whatever the terminal's encoding
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    global _interrupted_by
    _interrupted_by = None
    previous = _interrupt_on_signals()
    try:
        return _guarded(lambda: _main(argv))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _main(argv: list[str]) -> int:
    from vg_studio.limits import check_environment
    from vg_studio.startup import install_logging

    check_environment()
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.install_desktop_entry:
        from vg_studio.desktop import install_desktop_entry

        print(inert(install_desktop_entry()))
        return 0
    command = args.command or "gui"
    if command != "gui":
        install_logging()
    return COMMANDS[command](args)


def _interrupt_on_signals() -> dict:
    """SIGINT and SIGTERM raise Interrupted (a KeyboardInterrupt) that `_guarded` turns into one line."""
    def interrupt(signum, frame):
        global _interrupted_by
        _interrupted_by = signum
        raise Interrupted(signum)

    previous = {}
    for sig in SIGNALS:
        try:
            previous[sig] = signal.signal(sig, interrupt)
        except ValueError:  # not the main thread (a test calling main): leave the signals alone
            break
    return previous


def _guarded(action) -> int:
    try:
        return int(action() or 0)
    except OSError as exc:  # a full disk, a read-only folder …: name the file, no traceback
        text = f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
        _error(text)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        return _interrupted(getattr(exc, "signum", signal.SIGINT))
    except BaseException as exc:
        # A Ctrl-C that lands inside a compiled extension's import comes back as that extension's own error
        # (pydantic-core's PanicException, an ImportError): the signal is the cause, so it is reported as such.
        if _interrupted_by is not None:
            return _interrupted(_interrupted_by)
        if isinstance(exc, Exception) and isinstance(exc, _user_errors()):
            _error(exc)
            return EXIT_USAGE
        if not isinstance(exc, Exception) or os.environ.get("VG_STUDIO_DEBUG", "") not in ("", "0"):
            raise  # SystemExit, or a developer asking for the traceback
        # Input no check foresaw: still one line (the cause is usually what the user gave), not a traceback. A
        # library's message may span lines: they are joined, each inert.
        what = "not enough memory" if isinstance(exc, MemoryError) else f"{type(exc).__name__}: {one_line(exc)}"
        _error(f"unexpected problem ({what}); VG_STUDIO_DEBUG=1 shows where")
        return EXIT_FAILED


_interrupted_by: int | None = None  # the signal the handler raised Interrupted for, if any


def _interrupted(signum: int) -> int:
    print(_signal_line(signum), file=sys.stderr)
    return 128 + int(signum)


def _user_errors() -> tuple:
    """The exception types that carry a one-line message for the user — only from modules already loaded (a
    refusal before the spec or data modules load must not wait for them)."""
    found = [CliError]
    for module, name in (("vg_studio.spec", "SpecError"), ("vg_studio.data.base", "DatasetError"),
                         ("vg_studio.train.rundir", "RunStoreError"), ("vg_studio.limits", "LimitsError"),
                         ("vg_studio.safeio", "UnreadableFile"), ("vg_studio.monitor.saved", "SavedModelError")):
        loaded = sys.modules.get(module)
        if loaded is not None:
            found.append(getattr(loaded, name))
    return tuple(found)


def _error(exc) -> None:
    """One line on stderr. Every message is one line by design, so anything in it that could move the cursor,
    start a line or reorder text came from outside (a path, a layer name, a file's text) and is shown escaped."""
    text = str(exc).strip()
    print(f"vg-studio: error: {inert(text) if text else type(exc).__name__}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """argparse, with a short usage line on a mistake instead of every option of the command."""

    def error(self, message: str):
        required = [a.option_strings[0] + " " + (a.metavar or a.dest.upper()) for a in self._actions
                    if a.required and a.option_strings]
        positionals = [a.metavar or a.dest for a in self._actions
                       if not a.option_strings and a.dest not in ("command", argparse.SUPPRESS)]
        usage = " ".join([self.prog, *positionals, *required, "[options]"])
        self.exit(EXIT_USAGE, f"usage: {usage}   ({self.prog} --help lists them)\nvg-studio: error: {inert(message)}\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vg-studio", description="See, diagnose and fix vanishing and exploding gradients. "
                                      "Without a command the desktop app opens.")
    parser.add_argument("--version", action="version", version=f"vg-studio {__version__}")
    parser.add_argument("--install-desktop-entry", action="store_true",
                        help="install a .desktop launcher and icon for the current user, then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    gui = sub.add_parser("gui", help="open the desktop app (the default)")
    gui.add_argument("path", nargs="?", help="a spec .json or a run directory to open")

    train = sub.add_parser("train", help="train a network and write a run directory",
                           description="Train from a spec file and/or quick flags (flags override the spec).")
    train.add_argument("--spec", help="experiment spec JSON (default: the built-in example)")
    train.add_argument("--model", metavar="FILE.keras",
                       help="train your own saved Keras model instead of a spec (with --dataset; the optimizer and "
                            "training flags apply where given)")
    train.add_argument("--out", required=True, metavar="DIR", help="run directory to write (new or empty)")
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

    export = sub.add_parser("export", help="copy a run's model to a .keras file, or write it for TensorBoard")
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("--to", metavar="FILE.keras", help="destination .keras path")
    export.add_argument("--tensorboard", metavar="LOGDIR", help="write the run as TensorBoard event files in LOGDIR")

    diagnose = sub.add_parser("diagnose", help="diagnose a run directory's history")
    report = sub.add_parser("report", help="write a run's (or a compared pair's) self-contained HTML report")
    reproduce = sub.add_parser("reproduce", help="reproduce the papers' tables (Tan & Lim's SDAGD, Wu's attention)")
    # Their modules may import Keras: load them only when that command runs, so every other command stays fast.
    chosen = next((a for a in (argv or []) if not a.startswith("-")), None)
    if chosen == "diagnose":
        _add_optional(diagnose, "vg_studio.diagnose.cli")
    elif chosen == "reproduce":
        _add_optional(reproduce, "vg_studio.experiments.cli")
    elif chosen == "report":
        _add_optional(report, "vg_studio.report.cli")
    return parser


def _add_optional(parser: argparse.ArgumentParser, module: str) -> None:
    """Subcommands whose arguments live beside their implementation."""
    import importlib

    mod = importlib.import_module(module)
    mod.add_arguments(parser)
    parser.set_defaults(_module=mod)


# ---- commands ----------------------------------------------------------------------------------------------
def cmd_gui(args) -> int:
    if getattr(args, "path", None) is not None:
        _check_openable(args.path)  # before a window opens: a bad path is one line here, not a dialog
    try:
        from vg_studio.gui.app import main as gui_main
    except ImportError as exc:
        raise CliError(f"the desktop app cannot start: {exc}") from None
    return gui_main([args.path] if getattr(args, "path", None) else [])


def _check_openable(text: str) -> None:
    """`vg-studio gui PATH`: PATH must be a spec file or a run directory VG Studio can read."""
    from pathlib import Path

    if not text.strip():
        raise CliError("PATH: an empty path; give a spec .json or a run directory")
    path = Path(text).expanduser()
    if path.is_dir():
        from vg_studio.train import rundir
        from vg_studio.train.runstore import open_run

        if not rundir.writer_alive(path):  # a run that is just starting is followed by the app as it comes
            open_run(path)  # RunStoreError: one line naming the file
    elif path.exists() or path.is_symlink():
        from vg_studio.spec import ExperimentSpec

        ExperimentSpec.load(path)  # SpecError: one line naming the file
    else:
        raise CliError(f"{text}: no such file or folder")


def spec_from_args(args) -> ExperimentSpec:
    from vg_studio import edits
    from vg_studio.spec import ExperimentSpec, example_spec

    spec = ExperimentSpec.load(args.spec) if args.spec is not None else example_spec()
    if args.dataset is not None:
        spec = edits.set_dataset(spec, args.dataset)
    for option in ("limit", "length"):
        if getattr(args, option) is not None:
            spec = edits.set_data_option(spec, option, getattr(args, option))
    if args.layers is not None:
        from vg_studio.limits import LIMITS

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
    """The spec if it is valid (its diagnostic thresholds included)."""
    from vg_studio.spec import SpecError

    problems = spec.validate()
    if problems:
        raise SpecError(problems)
    return spec


def cmd_train(args) -> int:
    from pathlib import Path

    for flag, value in (("--out", args.out), ("--spec", args.spec), ("--model", args.model),
                        ("--dataset", args.dataset)):
        if value is not None and not value.strip():  # `--spec ""` trained the built-in example instead
            raise CliError(f"{flag}: an empty {'name' if flag == '--dataset' else 'path'}")
    if args.model is not None:
        return _train_saved_model(args)
    from vg_studio.train.rundir import check_writable_target

    spec = spec_from_args(args)
    out = Path(args.out)
    check_writable_target(out, args.overwrite)  # before TensorFlow loads: a refusal is instant
    data = _early_dataset(spec)  # a bad data file too
    with run_dir_lock(args.out):  # and a folder another run is writing
        from vg_studio.startup import quiet_backend_startup

        quiet_backend_startup()
        from vg_studio.diagnose.listener import DiagnosisListener
        from vg_studio.train.trainer import Trainer

        printer = _TrainPrinter(quiet=args.quiet or args.json)
        stop = SignalStop(lambda: trainer.cancel(), stop_now=_stop_now(out))
        trainer = Trainer(spec, run_dir=out, listeners=[DiagnosisListener(), printer, stop], dataset=data)
        try:
            with stop.installed():
                result = trainer.run()
        except KeyboardInterrupt:  # a second Ctrl-C / SIGTERM: stopped at once; the run still says so
            _record_interrupted_run(out)
            raise
    if args.json:
        print(json.dumps(result.report, indent=2, default=str))
    else:
        printer.summary(result)
    return stop.exit_status(result.status)


# Flags that describe a spec's network: a saved model brings its own.
_NETWORK_FLAGS = (("--spec", "spec"), ("--layers", "layers"), ("--units", "units"), ("--kind", "kind"),
                  ("--activation", "activation"), ("--initializer", "initializer"), ("--attention", "attention"))


def _train_saved_model(args) -> int:
    """`train --model FILE`: the user's saved model, trained with the GradientMonitor (vg_studio.monitor)."""
    import threading
    from pathlib import Path

    from vg_studio.keras_file import check_keras_file
    from vg_studio.train.rundir import check_writable_target

    for flag, dest in _NETWORK_FLAGS:
        if getattr(args, dest) is not None:
            raise CliError(f"{flag}: not used with --model (the model file defines the network)")
    if not args.dataset:
        raise CliError("--dataset: required with --model (the data to train the model on)")
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size),
                        ("--record-every", args.record_every)):
        if value is not None and value < 1:
            raise CliError(f"{flag}: must be at least 1")
    check_keras_file(args.model)  # a broken or foreign file: one line, before TensorFlow loads
    out = Path(args.out)
    check_writable_target(out, args.overwrite)
    from vg_studio.data import load_dataset

    options = {name: value for name, value in (("limit", args.limit), ("length", args.length)) if value is not None}
    data = load_dataset(args.dataset, options)
    with run_dir_lock(args.out):
        from vg_studio.startup import quiet_backend_startup

        quiet_backend_startup()
        from vg_studio.monitor.saved import FitOptions, fit_saved_model

        fit = FitOptions(optimizer=args.optimizer, learning_rate=args.lr, clipnorm=args.clipnorm,
                         epochs=args.epochs or 5, batch_size=args.batch_size or 32,
                         seed=args.seed if args.seed is not None else 0, record_every=args.record_every or 10)
        printer = _TrainPrinter(quiet=args.quiet or args.json)
        cancel = threading.Event()
        # before the first batch (the model still loading) a signal ends at once
        stop = SignalStop(cancel.set, stop_now=_stop_now(out))
        try:
            with stop.installed():
                result = fit_saved_model(args.model, data, out, fit, listeners=[printer, stop],
                                         overwrite=args.overwrite, cancel=cancel)
        except KeyboardInterrupt:  # stopped at once: a run that had started still says so
            _record_interrupted_run(out)
            raise
    if args.json:
        print(json.dumps(result.report, indent=2, default=str))
    else:
        printer.summary(result)
    return stop.exit_status(result.status)


def _early_dataset(spec):
    """Load the dataset before TensorFlow when no Keras is needed for it (files, generated and bundled sets), so
    that a bad data file is refused in a fraction of a second; None leaves it to the trainer."""
    from vg_studio import catalog

    name = spec.data.dataset
    if name in catalog.KERAS_DATASETS:
        return None
    from vg_studio.data import load_dataset

    return load_dataset(name, dict(spec.data.options))


def _stop_now(out):
    """A second signal during training: the run is marked cancelled and the process ends at once."""
    from pathlib import Path

    from vg_studio.train.rundir import abandon

    def record_run():
        _record_interrupted_run(out)
        abandon(Path(out))

    return lambda signum: exit_at_once(signum, record_run, _signal_line(signum))


def _record_interrupted_run(out) -> None:
    from vg_studio.train.runstore import RunStoreError, end_abandoned_run

    try:
        end_abandoned_run(out, "cancelled", "stopped at once by a second interrupt; the completed epochs are kept")
    except (RunStoreError, OSError):
        pass  # nothing recorded yet (or the folder went): there is nothing to mark


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
                  f"{event.epochs} epochs x {event.steps_per_epoch} steps, device: {inert(event.device)}", flush=True)
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
        print(f"{result.status}: {one_line(result.message)}")
        metrics = report.get("test_metrics")
        if metrics:
            print(f"test accuracy {metrics['accuracy']:.4f}, misclassification {metrics['misclassification_rate']:.4f}, "
                  f"recall {metrics['recall_macro']:.4f}, F1 {metrics['f1_macro']:.4f}, "
                  f"{metrics['images_per_second']:.0f} images/s")
        if self.last_record is not None:
            g = self.last_record.stats["grad_mean_abs"]
            print("mean |gradient| per layer at the last record: " + ", ".join(
                f"{inert(name)} {value:.2e}" for name, value in zip(result.history.layer_names, g)))
        if result.run_dir:
            print(f"run written to {inert(result.run_dir)}")


def _format_finding(finding) -> str:
    from vg_studio.diagnose.cli import format_finding

    return format_finding(finding)


def cmd_spec(args) -> int:
    from vg_studio.spec import ExperimentSpec, SpecError, example_spec

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
    print(inert(f"{args.check}: valid ({len(spec.network.layers)} hidden layers, {spec.optimizer.name}, "
                f"{spec.data.dataset})"))
    return 0


def cmd_info(args) -> int:
    from vg_studio.startup import quiet_backend_startup

    quiet_backend_startup()
    from vg_studio.train.device import versions, visible_gpus

    info = versions()
    info["gpus"] = visible_gpus() or ["none visible"]
    for key, value in info.items():
        print(f"{key}: {inert(', '.join(value) if isinstance(value, list) else value)}")
    return 0


def cmd_export(args) -> int:
    """Copy a run's model.keras — after checking it is a complete Keras file (nothing in it is loaded or run)."""
    from pathlib import Path

    from vg_studio.keras_file import check_keras_file, copy_keras_file

    if args.tensorboard is not None or args.to is None:
        if args.to is not None or args.tensorboard is None:
            raise CliError("export: give one of --to FILE.keras (the model) and --tensorboard LOGDIR (the history)")
        from vg_studio.report.cli import export_tensorboard_command

        return export_tensorboard_command(args.run_dir, args.tensorboard)
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise CliError(f"{run_dir}: {'not a run directory' if run_dir.exists() else 'no such run directory'}")
    source = run_dir / "model.keras"
    if not os.path.lexists(source):
        ended = os.path.lexists(run_dir / "report.json")
        raise CliError(f"{source}: no trained model in this run directory" + ("" if ended else
                       " (the run was interrupted, or is still running, before it saved one; its history can "
                       "still be diagnosed)"))
    destination = Path(args.to)
    if destination.suffix != ".keras":
        raise CliError(f"--to: {destination} must end in .keras")
    check_keras_file(source)
    if destination.exists() and (destination.is_dir() or os.path.samefile(source, destination)):
        raise CliError(f"--to: {destination} is {'a folder' if destination.is_dir() else 'the model itself'}")
    try:
        copy_keras_file(source, destination)
    except OSError as exc:
        raise CliError(f"{destination}: cannot write ({exc.strerror or exc})") from None
    print(f"exported {inert(destination)}")
    return 0


def _cmd_delegated(args) -> int:
    if args.command == "reproduce":
        from vg_studio.startup import quiet_backend_startup

        _precheck_reproduction(args)  # TensorFlow takes seconds to load: what is plainly wrong is refused first
        quiet_backend_startup()
    return args._module.run(args)


def _precheck_reproduction(args) -> None:
    from pathlib import Path

    dataset, out = getattr(args, "dataset", None), getattr(args, "out", None)
    if dataset is not None:
        if not catalog.is_known_dataset(dataset):
            raise CliError(f"--dataset: unknown dataset {dataset!r}; expected one of {', '.join(catalog.DATASETS)}, "
                           "npz:PATH or folder:PATH")
        if dataset.startswith(catalog.DATASET_PREFIXES):
            path = Path(dataset.split(":", 1)[1]).expanduser()
            if not path.exists():
                raise CliError(f"--dataset: {path}: no such {'file' if dataset.startswith('npz:') else 'folder'}")
    if out is not None and (not str(out).strip() or (Path(out).exists() and not Path(out).is_dir())):
        raise CliError(f"--out: {out!r} is not a folder")


COMMANDS = {"gui": cmd_gui, "train": cmd_train, "spec": cmd_spec, "info": cmd_info, "export": cmd_export,
            "diagnose": _cmd_delegated, "reproduce": _cmd_delegated, "report": _cmd_delegated}

if __name__ == "__main__":
    sys.exit(main())
