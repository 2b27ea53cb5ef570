"""Cooperative cancellation of extraction work running in the service's thread pool.

A Python thread cannot be killed, so a request that timed out or whose client left
cannot stop its extraction from outside: the work itself checks a flag at points
where stopping is safe (before a job starts, between documents of a batch, before
each forward pass of the record model) and raises `Cancelled` there.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

RECORD_MODEL = "govmetrics_record_model_v1"


class Cancelled(Exception):
    """The work was cancelled; the request was already answered (or its client is gone)."""


class CancelToken:
    """One request's flag: set on the event loop, read by the worker thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str) -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason)


_current = threading.local()


@contextmanager
def running_under(token: CancelToken) -> Iterator[None]:
    """Make `token` the one that `checkpoint()` checks in this thread while the block runs."""
    _current.token = token
    try:
        yield
    finally:
        _current.token = None


def checkpoint() -> None:
    """Raise `Cancelled` if the work running in this thread was cancelled; free when nothing is."""
    token: CancelToken | None = getattr(_current, "token", None)
    if token is not None:
        token.check()


class CheckpointedModel:
    """The record model's network with a checkpoint before each forward pass.

    The record model is where a figure-dense text spends its time (one forward pass per
    batch of windows); checking here bounds how long cancelled work keeps the thread.
    Outputs are unchanged: the call is passed through as is."""

    def __init__(self, model: Any) -> None:
        self.wrapped = model

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        checkpoint()
        return self.wrapped(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def install_checkpoints(nlp: Any) -> bool:
    """Put `CheckpointedModel` around the pipeline's record model, once; False where there is none (rules)."""
    if RECORD_MODEL not in nlp.pipe_names:
        return False
    tagger = nlp.get_pipe(RECORD_MODEL).tagger
    if not isinstance(tagger.model, CheckpointedModel):
        tagger.model = CheckpointedModel(tagger.model)
    return True
