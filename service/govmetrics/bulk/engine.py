"""Bulk annotation: every document under some inputs, into a `ResultStore`.

Data flows one way: `archive.iter_documents` (parent) reads and hashes each
document and decides whether it is already done -> an engine annotates the
rest in worker processes (each holds one `Extractor`) -> the parent writes
each outcome to the store in one transaction. The parent is the only writer
of the database, whatever the engine.

Engines:
- `local`: a process pool on this machine (`--workers N`, default all cores).
- `ray`: Ray Data, `map_batches` with an actor per worker that holds the model
  once; the driver streams the results back and writes them the same way.
"""
from __future__ import annotations

import hashlib
import os
import signal
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from pydantic import BaseModel

from govmetrics.read.archive import ReadLimits, SourceDocument, count_documents, document_label, iter_documents
from govmetrics.errors import GovMetricsError
from govmetrics.bulk.store import DocumentOutcome, KnownDocument, ResultStore

MAX_ERRORS_SHOWN = 5
DEFAULT_DOC_TIMEOUT = 300.0  # seconds one document may take; the whole corpus (2 M characters) takes under a minute


def doc_timeout_from_env() -> float:
    from govmetrics.settings import env_float

    return env_float("GOVMETRICS_DOC_TIMEOUT", DEFAULT_DOC_TIMEOUT)


class _DocumentTimeout(BaseException):
    """A document's time is up; a BaseException, so that a reader's own `except Exception` cannot swallow it."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the work after `seconds` (0: no limit).

    A PDF that sends pypdf into an endless loop would otherwise hold its worker
    for the rest of the run. In a process's main thread (pool workers) an alarm
    signal interrupts even a blocking call; Ray Data calls its actors from
    another thread, where a timer raises the exception in that thread instead
    (CPython delivers it between bytecodes, so a loop in Python code stops; a
    single call stuck inside C code stops when it returns).
    """
    if seconds <= 0:
        yield
        return
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM"):
        def expire(signum: int, frame: Any) -> None:
            raise _DocumentTimeout

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    import ctypes

    target = threading.get_ident()
    finished = threading.Event()

    def interrupt() -> None:
        if not finished.is_set():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(_DocumentTimeout))

    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        finished.set()
        timer.cancel()
        timer.join()
        # the timer may have fired just as the work ended: drop the exception it left pending
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), None)


@dataclass(frozen=True)
class DocumentJob:
    """A document on its way to a worker: its key, its bytes and their hash."""

    source: str
    member: str
    name: str
    size: int
    sha256: str
    data: bytes

    @property
    def label(self) -> str:
        return document_label(self.source, self.member)


@dataclass(frozen=True)
class WorkerOptions:
    """What every worker needs: the model (a folder, "rules", or None for the shipped one) and the limits."""

    model: str | None
    max_bytes: int
    time_limit: float = 0  # seconds one document may take; 0: no limit


# -- the work done on one document, shared by every engine -------------------
def annotate_job(extractor: Any, job: DocumentJob, options: WorkerOptions) -> DocumentOutcome:
    """Read and extract one document; failures (a time limit passed included) are outcomes, never exceptions."""
    from pathlib import PurePosixPath

    from govmetrics.extract import doc_name
    from govmetrics.read.readers import read_bytes

    model = extractor.model_info
    base: dict[str, Any] = dict(source=job.source, member=job.member, name=job.name, sha256=job.sha256,
                                size=job.size, model_name=model["name"], model_version=model["version"])
    t0 = time.perf_counter()
    read_seconds: float | None = None
    try:
        with _time_limit(options.time_limit):
            read = read_bytes(job.data, name=job.label, suffix=PurePosixPath(job.name).suffix.lower(),
                              max_bytes=options.max_bytes)
            read_seconds = time.perf_counter() - t0
            base.update(reader=read.reader, chars=len(read.text), read_seconds=read_seconds)
            t1 = time.perf_counter()
            result = extractor.extract_text(read.text, doc_name(job.name)).to_json()
        return DocumentOutcome(**base, status="done", extract_seconds=time.perf_counter() - t1, result=result)
    except _DocumentTimeout:
        error_code = "E057"
        error = GovMetricsError.make("E057", name=job.label, seconds=options.time_limit).message
    except GovMetricsError as exc:
        error_code, error = exc.code, exc.message
    except Exception as exc:  # a bug on one document must not end a night's run
        error_code = "E052"
        error = GovMetricsError.make("E052", name=job.label, cause=f"{type(exc).__name__}: {exc}"[:300]).message
    if read_seconds is None:
        base["read_seconds"] = time.perf_counter() - t0
    return DocumentOutcome(**base, status="failed", error_code=error_code, error=error)


def failed_outcome(doc: SourceDocument | DocumentJob, error: GovMetricsError, model: dict[str, str],
                   sha256: str | None = None, status: str = "failed") -> DocumentOutcome:
    return DocumentOutcome(source=doc.source, member=doc.member, name=doc.name, sha256=sha256, size=doc.size,
                           status=status, error_code=error.code, error=error.message,
                           model_name=model["name"], model_version=model["version"])


# -- local engine: a process pool ----------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(options: WorkerOptions, threads: int = 0) -> None:
    # The parent decides what Ctrl-C means; workers just stop with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if threads:
        # Each worker's torch would otherwise use every core: N workers x N threads thrash.
        import torch

        torch.set_num_threads(threads)
    _exit_with_parent()
    _quiet_readers()
    _WORKER["options"] = options
    try:
        from govmetrics.extract import Extractor

        _WORKER["extractor"] = Extractor(model=options.model)
    except GovMetricsError as exc:
        _WORKER["error"] = (exc.code, exc.message)
    except Exception as exc:  # reported by the first task, as one line, instead of a broken pool
        _WORKER["error"] = ("E052", GovMetricsError.make("E052", name="loading the model",
                                                         cause=f"{type(exc).__name__}: {exc}"[:300]).message)


def _exit_with_parent() -> None:
    """Exit when the parent dies (kill -9, power button): nobody would read our results.

    The pool's task queue stays open in the workers themselves, so without
    this an orphaned worker would wait for work forever, holding its model.
    """
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="govmetrics-parent-watch", daemon=True).start()


def _quiet_readers() -> None:
    # pypdf logs every repair it attempts; a failure is recorded in the store, not printed.
    import logging

    logging.getLogger("pypdf").setLevel(logging.ERROR)


def _worker_model_info() -> dict[str, Any]:
    if "error" in _WORKER:
        return {"error": _WORKER["error"]}
    return {"model": dict(_WORKER["extractor"].model_info)}


def _worker_annotate(job: DocumentJob) -> DocumentOutcome:
    return annotate_job(_WORKER["extractor"], job, _WORKER["options"])


class Engine(Protocol):
    workers: int
    name: str

    def model_info(self) -> dict[str, str]: ...

    def process(self, jobs: Iterator[DocumentJob]) -> Iterator[DocumentOutcome]: ...

    def close(self) -> None: ...


class LocalEngine:
    """Worker processes on this machine; each builds its `Extractor` once (initializer)."""

    name = "local"

    def __init__(self, workers: int, options: WorkerOptions,
                 annotate: Callable[[DocumentJob], DocumentOutcome] = _worker_annotate,
                 initializer: Callable[..., None] = _init_worker) -> None:
        self.workers = workers
        self.options = options
        self._annotate = annotate
        self._initializer = initializer
        self._model: dict[str, str] | None = None
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        import multiprocessing

        # spawn, not fork: the parent may hold threads (tqdm, sqlite) and fork copies them half-done.
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=self._initializer,
                                   initargs=(self.options, max(1, (os.cpu_count() or 1) // self.workers)))

    def model_info(self) -> dict[str, str]:
        if self._model is None:
            try:
                answer = self._pool.submit(_worker_model_info).result()
            except BrokenProcessPool:
                raise GovMetricsError.make("E052", name="loading the model",
                                           cause="the worker process died (out of memory?)") from None
            if "error" in answer:
                raise GovMetricsError(*answer["error"])
            self._model = answer["model"]
        return self._model

    def process(self, jobs: Iterator[DocumentJob]) -> Iterator[DocumentOutcome]:
        """Outcomes in completion order; at most a few documents per worker held in memory.

        A worker that dies (a reader crashing the interpreter, the OOM killer)
        breaks the pool for every document in flight; those are retried one at
        a time in a fresh pool, and the one that kills a worker alone is
        recorded as failed (E051) instead of ending the run.
        """
        limit = self.workers * 2 + 1
        in_flight: dict[Future[DocumentOutcome], DocumentJob] = {}
        suspects: deque[DocumentJob] = deque()
        alone: DocumentJob | None = None  # a suspect running by itself
        exhausted = False
        while True:
            if alone is None and suspects:
                alone = suspects.popleft()
                in_flight[self._pool.submit(self._annotate, alone)] = alone
            while alone is None and not exhausted and len(in_flight) < limit:
                job = next(jobs, None)
                if job is None:
                    exhausted = True
                    break
                in_flight[self._pool.submit(self._annotate, job)] = job
            if not in_flight:
                return
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            broken: list[DocumentJob] = []
            for future in done:
                job = in_flight.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    broken.append(job)
                    continue
                if job is alone:
                    alone = None
                yield outcome
            if broken:
                broken.extend(in_flight.values())
                in_flight.clear()
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                if alone is not None:  # it ran by itself: it is the one that kills workers
                    yield failed_outcome(alone, GovMetricsError.make("E051", name=alone.label),
                                         self.model_info(), alone.sha256)
                else:
                    suspects.extend(broken)
                alone = None

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# -- ray engine: Ray Data ------------------------------------------------------
class RayAnnotator:
    """A Ray Data actor: holds one `Extractor`, annotates batches of documents."""

    def __init__(self, options: WorkerOptions) -> None:
        from govmetrics.extract import Extractor

        _quiet_readers()
        self.extractor = Extractor(model=options.model)
        self.options = options

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        outcomes = []
        for i in range(len(batch["source"])):
            job = DocumentJob(source=str(batch["source"][i]), member=str(batch["member"][i]),
                              name=str(batch["name"][i]), size=int(batch["size"][i]),
                              sha256=str(batch["sha256"][i]), data=bytes(batch["data"][i]))
            outcomes.append(annotate_job(self.extractor, job, self.options).model_dump_json())
        return {"outcome": np.array(outcomes, dtype=object)}


def _ray_model_info(model: str | None) -> dict[str, Any]:
    try:
        from govmetrics.extract import Extractor

        return {"model": dict(Extractor(model=model).model_info)}
    except GovMetricsError as exc:
        return {"error": (exc.code, exc.message)}


class RayEngine:
    """Runs the documents through Ray Data in waves of at most `wave_bytes` of input.

    Each wave is one dataset (`from_items` -> `map_batches(RayAnnotator)`), so
    the driver holds one wave's bytes, not the whole archive's; the actors load
    the model once per wave (seconds, against minutes of work in a full wave).
    """

    name = "ray"

    def __init__(self, workers: int, options: WorkerOptions, address: str | None = None,
                 wave_bytes: int = 256 * 1024 * 1024, wave_docs: int = 5000) -> None:
        try:
            import ray  # noqa: F401
            import ray.data  # noqa: F401  Ray Data needs pyarrow and pandas
        except ImportError as exc:  # Ray is the optional extra govmetrics[ray], not installed by default
            raise GovMetricsError.make("E080", cause=_first_line(exc)) from None
        self.workers = workers
        self.options = options
        self.wave_bytes = wave_bytes
        self.wave_docs = wave_docs
        self._model: dict[str, str] | None = None
        self._started = False
        self.address = address

    def _start(self) -> None:
        """Start (or join) Ray: on first use, after the inputs were found, not before."""
        if self._started:
            return
        import logging

        import ray
        import ray.data

        address = self.address
        # Ray's own log lines would bury the one progress bar and the summary; failures are in the store.
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            if address:
                # A cluster: every node needs this project installed (README.md, "Ray").
                ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, logging_level=logging.ERROR,
                         log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": _python_path()}})
        except Exception as exc:  # ray raises ConnectionError, RuntimeError, ValueError, ...
            raise GovMetricsError.make("E055", cause=f"cannot start Ray{' at ' + address if address else ''}: "
                                       f"{_first_line(exc)}") from None
        self._started = True
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours is the one progress bar
        context.print_on_execution_start = False

    def model_info(self) -> dict[str, str]:
        if self._model is None:
            import ray

            self._start()
            try:
                # max_calls=1: the process that loaded a model only to name it exits, freeing its memory
                answer = ray.get(ray.remote(num_cpus=1, max_calls=1)(_ray_model_info).remote(self.options.model))
            except Exception as exc:  # e.g. the nodes cannot import this project
                raise GovMetricsError.make("E055", cause=f"cannot load the model on Ray: {_first_line(exc)}") from None
            if "error" in answer:
                raise GovMetricsError(*answer["error"])
            self._model = answer["model"]
        return self._model

    def process(self, jobs: Iterator[DocumentJob]) -> Iterator[DocumentOutcome]:
        wave: list[DocumentJob] = []
        size = 0
        for job in jobs:
            wave.append(job)
            size += len(job.data)
            if size >= self.wave_bytes or len(wave) >= self.wave_docs:
                yield from self._run_wave(wave)
                wave, size = [], 0
        if wave:
            yield from self._run_wave(wave)

    def _run_wave(self, wave: list[DocumentJob]) -> Iterator[DocumentOutcome]:
        import ray.data

        items = [{"source": j.source, "member": j.member, "name": j.name, "size": j.size, "sha256": j.sha256,
                  "data": j.data} for j in wave]
        dataset = ray.data.from_items(items, override_num_blocks=min(len(items), self.workers * 8))
        annotated = dataset.map_batches(
            RayAnnotator, fn_constructor_kwargs={"options": self.options},
            batch_size=1, batch_format="numpy", num_cpus=1,
            compute=ray.data.ActorPoolStrategy(size=self.workers))
        rows = iter(annotated.iter_rows())
        while True:
            try:
                row = next(rows, None)
            except Exception as exc:  # an actor died, the cluster went away: Ray's own exceptions
                raise GovMetricsError.make("E055", cause=f"the Ray job failed: {_first_line(exc)}") from None
            if row is None:
                return
            yield DocumentOutcome.model_validate_json(row["outcome"])

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _python_path() -> str:
    # Ray's local workers must import this very `govmetrics` (a checkout's or a wheel's), whatever else is installed.
    package_parent = str(Path(__file__).resolve().parents[2])
    existing = os.environ.get("PYTHONPATH")
    return os.pathsep.join([package_parent, existing] if existing else [package_parent])


# -- the job -------------------------------------------------------------------
class BulkSummary(BaseModel):
    total: int = 0
    done: int = 0
    skipped_done: int = 0
    skipped_failed: int = 0
    skipped_refused: int = 0
    failed: int = 0
    # archive entries that are not documents (links, devices, unsafe paths...): stored as `skipped`, by reason
    refused: int = 0
    refused_codes: dict[str, int] = {}
    records: int = 0
    chars: int = 0
    elapsed_seconds: float = 0.0
    interrupted: bool = False
    first_errors: list[str] = []
    model: dict[str, str] | None = None

    @property
    def skipped(self) -> int:
        return self.skipped_done + self.skipped_failed + self.skipped_refused

    def render(self) -> str:
        lines = [
            f"{'interrupted' if self.interrupted else 'finished'} in {self.elapsed_seconds:.1f} s: "
            f"{self.total} documents; done {self.done}, skipped {self.skipped}, failed {self.failed}"
            f"{f', refused {self.refused}' if self.refused else ''}; {self.records} records",
        ]
        if self.skipped:
            lines.append(f"skipped: {self.skipped_done} already done with the same content and model, "
                         f"{self.skipped_failed} failed before (--retry-failed retries them)"
                         + (f", {self.skipped_refused} refused before" if self.skipped_refused else ""))
        if self.refused:
            lines.append("refused (not documents; status 'skipped' in the database): "
                         + ", ".join(f"{code} {n}" for code, n in sorted(self.refused_codes.items())))
        if self.done:
            lines.append(f"throughput: {self.done / max(self.elapsed_seconds, 1e-9):.2f} documents/s, "
                         f"{self.chars / max(self.elapsed_seconds, 1e-9):,.0f} characters/s")
        if self.first_errors:
            lines.append(f"first {len(self.first_errors)} failures:")
            lines.extend(f"  {e}" for e in self.first_errors)
        if self.interrupted:
            lines.append("what was finished is kept: rerun the same command to resume")
        return "\n".join(lines)


def skip_reason(known: KnownDocument | None, sha256: str | None, model: dict[str, str],
                retry_failed: bool, force: bool) -> str | None:
    """'done', 'failed' or 'skipped' when the store already holds this content under this model; else None."""
    if force or known is None:
        return None
    if (known.sha256, known.model_name, known.model_version) != (sha256, model["name"], model["version"]):
        return None
    if known.status in ("done", "skipped"):  # a refused entry is refused again: nothing to redo
        return known.status
    return None if retry_failed else "failed"


class BulkAnnotator:
    """`govmetrics annotate`: inputs -> engine -> store, resumable."""

    def __init__(self, store: ResultStore, engine: Engine, retry_failed: bool = False, force: bool = False,
                 max_bytes: int | None = None, progress: bool | None = None, max_nested_bytes: int | None = None,
                 max_archive_bytes: int | None = None) -> None:
        self.store = store
        self.engine = engine
        self.retry_failed = retry_failed
        self.force = force
        # None: from the environment (GOVMETRICS_MAX_BYTES, _MAX_NESTED_BYTES, _MAX_ARCHIVE_BYTES)
        self.limits = ReadLimits.from_env(max_bytes, max_nested_bytes, max_archive_bytes)
        self.max_bytes = self.limits.max_bytes
        self.progress = sys.stderr.isatty() if progress is None else progress

    def run(self, inputs: Iterable[str | Path]) -> BulkSummary:
        from tqdm import tqdm

        inputs = [str(i) for i in inputs]
        started = time.perf_counter()
        # One run per database at a time (E060); any run still 'running' under the lock was killed.
        self.store.lock_for_run()
        self.store.mark_stale_runs()
        exclude = self.store.files()
        summary = BulkSummary(total=count_documents(inputs, self.limits, exclude))
        if not summary.total:
            raise GovMetricsError.make("E054", inputs=", ".join(inputs))
        model = self.engine.model_info()
        summary.model = model
        known = self.store.known_documents()
        from govmetrics.read.archive import printable_name

        run_id = self.store.start_run(self.engine.name, self.engine.workers,
                                      [printable_name(str(Path(i).resolve())) for i in inputs])
        bar = tqdm(total=summary.total, desc="annotate", unit="doc", file=sys.stderr, disable=not self.progress,
                   dynamic_ncols=True)

        def record(outcome: DocumentOutcome) -> None:
            with _ctrl_c_deferred():
                self.store.write_document(outcome, run_id)
                self._count(summary, outcome)
            bar.update(1)

        def pending() -> Iterator[DocumentJob]:
            for doc in iter_documents(inputs, self.limits, exclude):
                key = (doc.source, doc.member)
                if doc.refusal is not None:
                    reason = skip_reason(known.get(key), None, model, self.retry_failed, self.force)
                    if reason:
                        self._skip(summary, reason, bar)
                    else:
                        record(failed_outcome(doc, doc.refusal, model, status="skipped"))
                    continue
                try:
                    data = doc.read()
                except GovMetricsError as exc:
                    reason = skip_reason(known.get(key), None, model, self.retry_failed, self.force)
                    if reason:
                        self._skip(summary, reason, bar)
                    else:
                        record(failed_outcome(doc, exc, model))
                    continue
                sha256 = hashlib.sha256(data).hexdigest()
                reason = skip_reason(known.get(key), sha256, model, self.retry_failed, self.force)
                if reason:
                    self._skip(summary, reason, bar)
                    continue
                yield DocumentJob(doc.source, doc.member, doc.name, len(data), sha256, data)

        state = "finished"
        try:
            for outcome in self.engine.process(pending()):
                record(outcome)
        except KeyboardInterrupt:
            state = "interrupted"
            summary.interrupted = True
        except BaseException:
            state = "failed"  # what was written stays; rerun to resume
            raise
        finally:
            bar.close()
            summary.elapsed_seconds = time.perf_counter() - started
            counts = {"done": summary.done, "skipped": summary.skipped, "failed": summary.failed,
                      "refused": summary.refused, "records": summary.records}
            self.store.finish_run(run_id, state, counts, summary.elapsed_seconds, model)
        return summary

    @staticmethod
    def _count(summary: BulkSummary, outcome: DocumentOutcome) -> None:
        if outcome.status == "done":
            summary.done += 1
            summary.records += len(outcome.records)
            summary.chars += outcome.chars or 0
        elif outcome.status == "skipped":
            summary.refused += 1
            code = outcome.error_code or "?"
            summary.refused_codes[code] = summary.refused_codes.get(code, 0) + 1
        else:
            summary.failed += 1
            if len(summary.first_errors) < MAX_ERRORS_SHOWN:
                summary.first_errors.append(f"{outcome.error_code} {outcome.error}")

    @staticmethod
    def _skip(summary: BulkSummary, reason: str, bar: Any) -> None:
        if reason == "done":
            summary.skipped_done += 1
        elif reason == "skipped":
            summary.skipped_refused += 1
        else:
            summary.skipped_failed += 1
        bar.update(1)


@contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Hold a Ctrl-C until the block is over: a document is stored and counted, or neither."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
    if caught:
        raise KeyboardInterrupt


def make_engine(engine: str, workers: int | None, options: WorkerOptions, address: str | None = None) -> Engine:
    count = workers or default_workers()
    if engine == "ray":
        return RayEngine(count, options, address)
    return LocalEngine(count, options)


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
