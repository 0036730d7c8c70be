"""Which training steps are record steps."""

from __future__ import annotations


def is_record_step(step: int, record_every: int, first: int = 1) -> bool:
    """Records are taken at the first step — so a network broken from its initialization is diagnosed at once —
    and then every `record_every` steps."""
    return step == first or step % record_every == 0


def count_records(after: int, upto: int, record_every: int, first: int = 1) -> int:
    """How many record steps lie in (after, upto]."""
    if upto <= after:
        return 0
    n = upto // record_every - after // record_every
    if after < first <= upto and first % record_every:
        n += 1
    return n
