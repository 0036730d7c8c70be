"""How a training command answers Ctrl-C (SIGINT) and SIGTERM: `SignalStop`."""

from __future__ import annotations

import contextlib
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
    one interrupts at once (Interrupted; the run is still recorded as cancelled). Either way the command exits
    128 + the first signal's number (130 for Ctrl-C, 143 for SIGTERM), like any program a signal ended."""

    def __init__(self, cancel):
        self.cancel = cancel
        self.signum: int | None = None  # the first signal received
        self.training = False

    def __call__(self, event) -> None:
        if type(event).__name__ == "RunStarted":
            self.training = True

    def handle(self, signum, frame=None) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        if not first or not self.training:
            raise Interrupted(self.signum)  # the command ends as the first signal asked
        what = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        print(f"\nstopping after the current batch ({what} again to stop at once)", file=sys.stderr, flush=True)
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
