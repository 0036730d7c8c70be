"""How a training command answers Ctrl-C (SIGINT) and SIGTERM: `SignalStop`."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from vg_studio.startup import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_FAILED = 1


class SignalStop:
    """How `train` answers Ctrl-C (SIGINT) and SIGTERM, as a listener of the run it stops.

    Before training has started (the data, the model or the backend still loading: no batch is coming to stop
    after) a signal interrupts at once. Once the run has started (RunStarted), the first signal asks `cancel` to
    stop after the current batch — the run is recorded as "cancelled" with its completed epochs — and a second
    one calls `stop_now` with the first signal's number (the run is still recorded as cancelled). Either way the
    command exits 128 + the first signal's number (130 for Ctrl-C, 143 for SIGTERM), like any program a signal
    ended.

    `stop_now` defaults to raising Interrupted. A command passes `exit_at_once` instead: once training runs, the
    second signal lands wherever the main thread is, often inside TensorFlow's C code calling back into Python,
    which turns a raised KeyboardInterrupt into a SystemError, a ValueError of its own and a printed traceback
    that handlers meant for real failures catch — the "at once" stop would then neither be at once nor quiet."""

    def __init__(self, cancel, stop_now=None):
        self.cancel = cancel
        self.stop_now = stop_now if stop_now is not None else _raise_interrupted
        self.signum: int | None = None  # the first signal received
        self.training = False

    def __call__(self, event) -> None:
        if type(event).__name__ == "RunStarted":
            self.training = True

    def handle(self, signum, frame=None) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        if not self.training:
            raise Interrupted(self.signum)  # nothing to stop after: the command ends as the first signal asked
        if not first:
            self.stop_now(self.signum)
            raise Interrupted(self.signum)  # a `stop_now` that returned: the command still ends here
        what = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        # one write, the line break included: a second signal may land between print's pieces
        sys.stderr.write(f"\nstopping after the current batch ({what} again to stop at once)\n")
        sys.stderr.flush()
        self.cancel()

    @contextlib.contextmanager
    def installed(self):
        """The handler for SIGINT and SIGTERM during the block (left alone outside the main thread)."""
        previous = {}
        for sig in SIGNALS:
            try:
                previous[sig] = signal.signal(sig, self.handle)
            except ValueError:  # not the main thread: signals behave as usual
                break
        try:
            yield self
        except BaseException as exc:
            # once a signal came, it is why the block ended, whatever the code it landed in made of it (a library
            # may wrap the KeyboardInterrupt in an error of its own)
            if self.signum is not None and not isinstance(exc, Interrupted):
                raise Interrupted(self.signum) from exc
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def exit_status(self, status: str) -> int:
        """The command's exit status for a run that ended with `status`."""
        if self.signum is not None:
            return 128 + int(self.signum)
        return 0 if status == "completed" else EXIT_FAILED


def _raise_interrupted(signum: int) -> None:
    raise Interrupted(signum)


def exit_at_once(signum: int, record_run, last_line: str) -> None:
    """End the process now with 128 + `signum`: `record_run()` first marks the run as stopped (its completed
    epochs are on disk already), then `last_line` on stderr, the streams flushed, and os._exit — no
    exception travels through the library code the signal landed in. Later signals are ignored meanwhile: one
    arriving inside `record_run` would otherwise start it again over its own half-written files."""
    for sig in SIGNALS:
        with contextlib.suppress(ValueError):
            signal.signal(sig, signal.SIG_IGN)
    try:
        record_run()
    except BaseException:  # noqa: BLE001 - whatever marking the run met, the process still ends as asked
        pass
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    os.write(2, f"{last_line}\n".encode())
    os._exit(128 + int(signum))
