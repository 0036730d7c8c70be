"""A quiet start for the command line and the app's training process: no TensorFlow chatter, no tracebacks for
what is not a bug, and Ctrl-C / SIGTERM that are never lost while the backend loads.

- `quiet_backend_startup()` imports Keras and lets the backend find its devices with stderr captured, then
  writes back every captured line except the known start-up chatter (absl's "All log messages before
  absl::InitializeLog()", cuInit failing on a machine without a GPU, cuDNN/cuFFT/cuBLAS factory registration,
  TensorRT, CPU-instruction and oneDNN notices). Anything else — a real error — still reaches stderr. A
  Ctrl-C or SIGTERM that arrives meanwhile is held and raised as KeyboardInterrupt once the import is done
  (TensorFlow's import can otherwise swallow it and the run would start anyway).
- `install_logging()` prints VG Studio's own log records as one line each (`vg-studio: warning: …`), with the
  traceback only when VG_STUDIO_DEBUG=1, and keeps Python warnings and TensorFlow's retracing notices out of a
  user's terminal.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import tempfile
import threading

from vg_studio.text import one_line

CHATTER = re.compile("|".join([
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"failed call to cuInit",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"TF-TRT Warning: Could not find TensorRT",
    r"oneDNN custom operations are on",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions: .* rebuild TensorFlow",
    r"computation placer already registered",
    r"Unable to initialize backend 'cuda'",
    r"An NVIDIA GPU may be present on this machine, but a CUDA-enabled jaxlib is not installed",
    r"TensorFlow was not built with CUDA kernel binaries compatible",
]))

_started = False


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM: `signum` says which."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = signum


def quiet_backend_startup() -> None:
    """Import Keras and initialise its backend's devices once, without the start-up chatter (see the module)."""
    global _started
    if _started:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's INFO and WARNING lines; errors stay
    held: list[int] = []
    deferring = threading.current_thread() is threading.main_thread()
    previous = {}
    if deferring:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        with _captured_stderr() as replay:
            try:
                _import_backend()
            finally:
                replay()
        _started = True
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if held:
        raise Interrupted(held[0])


def _import_backend() -> None:
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.list_physical_devices()  # the device scan prints its chatter now, not in the middle of a run
        logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices are not for the terminal
    elif backend == "jax":
        import jax

        jax.devices()


class _captured_stderr:
    """Route file descriptor 2 (where C++ libraries write) to a temporary file for the block; `replay()` writes
    back what is not chatter."""

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._file = tempfile.TemporaryFile()
        os.dup2(self._file.fileno(), 2)
        self._replayed = False
        return self.replay

    def replay(self) -> None:
        if self._replayed:
            return
        self._replayed = True
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        text = self._file.read().decode("utf-8", "replace")
        self._file.close()
        kept = [line for line in text.splitlines() if line.strip() and not CHATTER.search(line)]
        if kept:
            sys.stderr.write("\n".join(kept) + "\n")
            sys.stderr.flush()

    def __exit__(self, *exc):
        self.replay()


class OneLineFormatter(logging.Formatter):
    """A log record as one inert line on a terminal ("vg-studio: warning: ..."); an exception adds its type and
    first line, or its traceback where `debug` (VG_STUDIO_DEBUG=1) asks for it. The CLI and the app use it."""

    def __init__(self, debug: bool = False):
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        level = "warning" if record.levelno < logging.ERROR else "error"
        text = f"vg-studio: {level}: {one_line(record.getMessage())}"
        if record.exc_info and record.exc_info[1] is not None:
            if self.debug:
                return text + "\n" + self.formatException(record.exc_info)
            exc = record.exc_info[1]
            first = one_line(str(exc).splitlines()[0]) if str(exc).strip() else ""
            text += f" ({type(exc).__name__}: {first})" if first else f" ({type(exc).__name__})"
        return text


def install_logging() -> None:
    """VG Studio's log records as one line each on stderr (tracebacks with VG_STUDIO_DEBUG=1)."""
    debug = os.environ.get("VG_STUDIO_DEBUG", "") not in ("", "0")
    logger = logging.getLogger("vg_studio")
    if any(getattr(h, "vg_studio_cli", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.vg_studio_cli = True
    handler.setFormatter(OneLineFormatter(debug))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False
    logging.captureWarnings(True)  # a library's UserWarning is not for a user's terminal
    logging.getLogger("py.warnings").setLevel(logging.WARNING if debug else logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.DEBUG if debug else logging.ERROR)
