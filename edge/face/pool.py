"""Where the CPU work runs: worker processes for the daemon, a thread for one-shot tools.

Each worker is ``python -m edge.face.worker`` (``worker.py``): a fresh interpreter that imports
only the engine and loads the models once. Not a multiprocessing pool: its workers re-import
the daemon's main module (and with it every driver), start a resource-tracker process, and
cannot be stopped in the middle of a job — together 30 MB of a 300 MB budget, and no way to
end a stuck dlib call. A worker here is a child process: killed on a timeout, replaced when it
dies, and a worker that cannot load the models says why instead of exiting 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import sys
from typing import Any, Protocol

from .engine import FaceEngine, Job
from .types import Analysis, FaceError, FaceUnavailable, Image
from .worker import HEADER, MAX_MESSAGE

_LOGGER = logging.getLogger(__name__)


class Analyzer(Protocol):
    """Runs the pipeline on one picture without blocking the event loop."""

    async def start(self) -> None: ...

    async def analyse(self, image: Image, job: Job) -> Analysis: ...

    async def stop(self) -> None: ...


class _Gone(Exception):
    """The worker process ended or its pipe broke."""


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, process: asyncio.subprocess.Process, pid: int, encoder: str) -> None:
        self.process = process
        self.pid = pid
        self.encoder = encoder

    @classmethod
    async def spawn(cls, detector: str) -> _Worker:
        # One BLAS thread per worker: a face is small matrices, and on a 2-core lane PC a second
        # thread would take the core the event loop needs for scans (measured: no faster).
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edge.face.worker", detector, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        try:
            hello = await _read(process)
        except _Gone:
            status = await process.wait()
            raise FaceUnavailable(f"the face worker exited with status {status} before it "
                                  "was ready") from None
        except BaseException:
            await _end(process)
            raise
        kind, value = hello
        if kind != "ready":
            await _end(process)
            raise FaceUnavailable(str(value))
        pid, encoder = value
        return cls(process, int(pid), str(encoder))

    async def run(self, image: Image, job: Job) -> Analysis:
        stdin = self.process.stdin
        assert stdin is not None
        body = pickle.dumps((image, job), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            stdin.write(HEADER.pack(len(body)) + body)
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise _Gone from None
        kind, value = await _read(self.process)
        if kind == "ok" and isinstance(value, Analysis):
            return value
        raise FaceError(str(value))

    async def close(self) -> None:
        """Let the worker finish and exit; kill it if it does not within 5 s."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5.0)
        except TimeoutError:
            await _end(self.process)

    async def kill(self) -> None:
        await _end(self.process)


async def _read(process: asyncio.subprocess.Process) -> Any:
    stdout = process.stdout
    assert stdout is not None
    try:
        (size,) = HEADER.unpack(await stdout.readexactly(HEADER.size))
        if size > MAX_MESSAGE:
            raise _Gone
        body = await stdout.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionResetError):
        raise _Gone from None
    return pickle.loads(body)  # noqa: S301 - our own child, over a private pipe


async def _end(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await process.wait()


class ProcessAnalyzer:
    """face_recognition in ``workers`` child processes, one job per worker at a time."""

    def __init__(self, *, detector: str, workers: int, job_timeout_s: float,
                 start_timeout_s: float) -> None:
        self.detector = detector
        self.workers = workers
        self.job_timeout_s = job_timeout_s
        self.start_timeout_s = start_timeout_s
        self.restarts = 0
        self.encoder = ""   # which encoder the workers use, once started
        self._running: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker | None] = asyncio.Queue()
        self._replacing: set[asyncio.Task[None]] = set()

    @property
    def pids(self) -> list[int]:
        return sorted(w.pid for w in self._running)

    async def start(self) -> None:
        """Start the workers and wait until each has loaded the models."""
        spawned = await asyncio.gather(*(self._spawn() for _ in range(self.workers)),
                                       return_exceptions=True)
        for result in spawned:
            if isinstance(result, _Worker):
                self._running.append(result)
                self._idle.put_nowait(result)
        failed = [r for r in spawned if isinstance(r, BaseException)]
        if failed:
            await self.stop()
            raise failed[0]
        self.encoder = self._running[0].encoder
        _LOGGER.log(logging.INFO if self.encoder.startswith("numpy") else logging.WARNING,
                    "Face workers ready: pids %s; encoder: %s", self.pids, self.encoder)

    async def analyse(self, image: Image, job: Job) -> Analysis:
        if not self._running:
            raise FaceUnavailable("no face worker is running")
        worker = await self._idle.get()
        if worker is None:  # the last worker could not be replaced
            self._idle.put_nowait(None)
            raise FaceUnavailable("no face worker is running")
        try:
            result = await asyncio.wait_for(worker.run(image, job), self.job_timeout_s)
        except TimeoutError:
            await self._replace(worker, f"a face job ran over {self.job_timeout_s:.1f} s")
            raise FaceError("the face job timed out; the worker was restarted") from None
        except _Gone:
            await self._replace(worker, "a face worker died")
            raise FaceError("a face worker died; it was restarted") from None
        except FaceError:
            self._idle.put_nowait(worker)
            raise
        except BaseException:  # cancelled mid-job: the pipe is in an unknown state
            task = asyncio.create_task(self._replace(worker, "a face job was cancelled"))
            self._replacing.add(task)
            task.add_done_callback(self._replacing.discard)
            raise
        self._idle.put_nowait(worker)
        return result

    async def stop(self) -> None:
        for task in list(self._replacing):
            task.cancel()
        await asyncio.gather(*self._replacing, return_exceptions=True)
        running, self._running = self._running, []
        await asyncio.gather(*(w.close() for w in running))

    async def _spawn(self) -> _Worker:
        try:
            return await asyncio.wait_for(_Worker.spawn(self.detector), self.start_timeout_s)
        except TimeoutError:
            raise FaceUnavailable(f"a face worker did not load the models within "
                                  f"{self.start_timeout_s:.0f} s") from None

    async def _replace(self, worker: _Worker, why: str) -> None:
        self.restarts += 1
        _LOGGER.error("%s; restarting it (restart %d)", why, self.restarts)
        await worker.kill()
        if worker in self._running:
            self._running.remove(worker)
        try:
            fresh = await self._spawn()
        except FaceError as err:
            _LOGGER.error("The face worker did not come back: %s", err)
            if not self._running:
                self._idle.put_nowait(None)
            return
        self._running.append(fresh)
        self._idle.put_nowait(fresh)


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
