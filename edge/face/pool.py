"""Where the CPU work runs: worker processes for the daemon, a thread for one-shot tools.

Workers are started with ``spawn`` (a fresh interpreter: forking a process that runs threads
and an event loop is unsafe), load face_recognition's models once in their initializer, and
ignore Ctrl-C (the daemon stops them). A worker that cannot load the models does not die in its
initializer — that would only say "a process terminated abruptly" — but answers every job with
the ``FaceUnavailable`` reason, which the daemon logs at start-up.

A job that overruns ``job_timeout_s`` or a worker that dies (dlib crashing on a bad frame)
restarts the pool; the frame is dropped and the next one is processed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from .engine import FaceEngine, Job
from .types import Analysis, FaceError, FaceUnavailable, Image

_LOGGER = logging.getLogger(__name__)


class Analyzer(Protocol):
    """Runs the pipeline on one picture without blocking the event loop."""

    async def start(self) -> None: ...

    async def analyse(self, image: Image, job: Job) -> Analysis: ...

    async def stop(self) -> None: ...


@functools.cache
def _engine(detector: str) -> FaceEngine | FaceUnavailable:
    """Return this process's engine (loaded once), or why it cannot load."""
    try:
        return FaceEngine(detector)
    except FaceUnavailable as err:
        return err


def _init_worker(detector: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _engine(detector)


def _warm(detector: str) -> int:
    engine = _engine(detector)
    if isinstance(engine, FaceUnavailable):
        raise engine
    return os.getpid()


def _analyse(detector: str, image: Image, job: Job) -> Analysis:
    engine = _engine(detector)
    if isinstance(engine, FaceUnavailable):
        raise engine
    return engine.analyse(image, job)


class ProcessAnalyzer:
    """face_recognition in ``workers`` processes."""

    def __init__(self, *, detector: str, workers: int, job_timeout_s: float,
                 start_timeout_s: float) -> None:
        self.detector = detector
        self.workers = workers
        self.job_timeout_s = job_timeout_s
        self.start_timeout_s = start_timeout_s
        self.pids: list[int] = []
        self.restarts = 0
        self._executor: ProcessPoolExecutor | None = None
        self._restarting = asyncio.Lock()

    async def start(self) -> None:
        """Start the workers and wait until each has loaded the models."""
        self._executor = self._new_executor()
        try:
            self.pids = await asyncio.wait_for(self._warm(self._executor), self.start_timeout_s)
        except TimeoutError:
            await self.stop()
            raise FaceUnavailable(f"the face workers did not load their models within "
                                  f"{self.start_timeout_s:.0f} s") from None
        except BaseException:
            await self.stop()
            raise
        _LOGGER.info("Face workers ready: pids %s", self.pids)

    async def analyse(self, image: Image, job: Job) -> Analysis:
        executor = self._executor
        if executor is None:
            raise FaceUnavailable("the face workers are not running")
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(executor, _analyse, self.detector, image, job)
        try:
            return await asyncio.wait_for(future, self.job_timeout_s)
        except TimeoutError:
            await self._restart(executor, f"a face job ran over {self.job_timeout_s:.1f} s")
            raise FaceError("the face job timed out; the workers were restarted") from None
        except BrokenProcessPool:
            await self._restart(executor, "a face worker died")
            raise FaceError("a face worker died; the workers were restarted") from None

    async def stop(self) -> None:
        """Let the workers finish their job and exit; end any that do not within 5 s."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(_stop, executor, 5.0)

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(self.detector,))

    async def _warm(self, executor: ProcessPoolExecutor) -> list[int]:
        loop = asyncio.get_running_loop()
        pids = await asyncio.gather(*(loop.run_in_executor(executor, _warm, self.detector)
                                      for _ in range(self.workers)))
        return sorted(set(pids))

    async def _restart(self, broken: ProcessPoolExecutor, why: str) -> None:
        async with self._restarting:
            if self._executor is not broken:  # another camera restarted it already
                return
            self.restarts += 1
            _LOGGER.error("%s; restarting the face workers (restart %d)", why, self.restarts)
            self._executor = None
            await asyncio.to_thread(_stop, broken, 0.0)
            executor = self._new_executor()
            try:
                self.pids = await asyncio.wait_for(self._warm(executor), self.start_timeout_s)
            except (TimeoutError, FaceError, BrokenProcessPool) as err:
                _LOGGER.error("The face workers did not come back: %s", err or "timed out")
                await asyncio.to_thread(_stop, executor, 0.0)
                return
            self._executor = executor


def _stop(executor: ProcessPoolExecutor, grace_s: float) -> None:
    """Shut ``executor`` down, ending workers still busy after ``grace_s`` seconds."""
    # The executor has no public way to stop a job that is running; its worker processes are
    # ours, so they are ended directly when they do not finish in time.
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(grace_s)
        if process.is_alive():
            process.terminate()
            process.join(5.0)
    executor.shutdown(wait=True)


class InlineAnalyzer:
    """The engine in this process, one job at a time on a thread (for the CLI and tools)."""

    def __init__(self, detector: str = "hog", engine: FaceEngine | None = None) -> None:
        self.detector = detector
        self._engine = engine
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        if self._engine is None:
            self._engine = await asyncio.to_thread(FaceEngine, self.detector)

    async def analyse(self, image: Image, job: Job) -> Analysis:
        if self._engine is None:
            await self.start()
        engine = self._engine
        assert engine is not None
        async with self._lock:  # dlib's detectors are not meant for concurrent callers
            return await asyncio.to_thread(engine.analyse, image, job)

    async def stop(self) -> None:
        self._engine = None
