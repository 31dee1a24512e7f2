"""Kiosk face pipeline speed and the daemon's memory with the models loaded.

    python -m benchmarks.face_pipeline [--frames 60] [--gallery 100000] [--big 1000000]

1. Frame latency: the corpus clip's frames that show a face, padded to 640x480, each through
   what a kiosk camera loop does — the frame to a worker process (pickled), HOG detection,
   68 landmarks, quality gates, encoding, back, and the 1:N search in a gallery of
   ``--gallery`` templates (the enrolled corpus faces among random ones).
2. 1:N search alone at ``--gallery`` and ``--big`` templates (random probes, median), and
   interleaved with it the floor: a bare matrix-vector product over as many rows. Every
   template is read once per search, so the machine's memory bandwidth sets both.
3. Memory: a real ``storeedge run`` with ``[face] enabled`` — the daemon process and its
   worker once the models are loaded: RSS summed, and PSS (shared pages counted once). The
   benchmark's own worker's peak after the frames is added to the daemon's main process for
   ``peak_rss_mb``: main + a worker that has processed kiosk frames, the figure the 300 MB
   budget is about.

   Beside each frame, interleaved, the issue's yardstick runs in this process: bare
   face_recognition HOG detection at upsample 0 and one encoding of the same frame, with
   dlib-bin's own encoder (no BLAS). Its median, the median of what the pipeline adds to it,
   and the two encoders' medians are printed: the pipeline encodes with the same network and
   weights on numpy's BLAS (``edge.face.resnet``), so the ratio of the two is this machine's.

Last line: {"frame_median_ms", "reference_median_ms", "added_median_ms",
"encode_median_ms", "dlib_encode_median_ms", "match_100k_ms", "match_1m_ms", "floor_100k_ms",
"floor_1m_ms", "peak_rss_mb"}.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from benchmarks._util import emit, load_note, percentile
from edge.face.config import FaceConfig
from edge.face.engine import Job, load_face_recognition, read_photo
from edge.face.gallery import DIMENSIONS, Gallery, arrange
from edge.face.pool import InlineAnalyzer, ProcessAnalyzer

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
CLIP = CORPUS / "faces" / "video" / "short_hamilton_clip.mp4"
ENROL = ["alex_lacamoire/alex_lacamoire_1.png", "biden/biden_1.jpg",
         "kit_harington/kit_harington_1.jpg", "lin_manuel_miranda/lin_manuel_miranda_1.png",
         "obama/obama_1.jpg", "rose_leslie/rose_leslie_1.jpg"]


def random_matrix(size: int, real: list[tuple[str, npt.NDArray[np.float32]]],
                  seed: int = 1) -> npt.NDArray[np.float32]:
    """Return ``size`` search rows: ``real`` templates and random ones like dlib's."""
    rng = np.random.default_rng(seed)
    matrix = np.empty((size, DIMENSIONS + 1), dtype=np.float32)
    chunk = 100_000
    for start in range(0, size, chunk):  # in chunks: a 1M gallery is 516 MB already
        stop = min(start + chunk, size)
        plain = rng.standard_normal((stop - start, DIMENSIONS), dtype=np.float32) * 0.12
        matrix[start:stop] = arrange(plain)
    for i, (_member, encoding) in enumerate(real):
        matrix[i] = arrange(encoding.reshape(1, -1))[0]
    return matrix


def random_gallery(size: int, real: list[tuple[str, npt.NDArray[np.float32]]],
                   seed: int = 1) -> Gallery:
    """Return a gallery of ``size`` templates, one member each."""
    members = tuple(f"R{i:07d}" for i in range(size))
    owners = np.arange(size, dtype=np.int32)
    return Gallery.from_matrix(random_matrix(size, real, seed), owners, members)


def time_search(size: int, rounds: int, seed: int = 2) -> tuple[list[float], list[float]]:
    """Time 1:N searches at ``size``, and interleaved the floor: a bare matrix-vector product
    over a matrix as large (every template has to be read once; memory bandwidth sets this)."""
    gallery = random_gallery(size, [])
    floor_matrix = random_matrix(size, [], seed=3)
    rng = np.random.default_rng(seed)
    probes = rng.standard_normal((rounds, DIMENSIONS), dtype=np.float32) * 0.12
    gallery.search(probes[0], 0.6, 0.06)  # first touch of the pages
    floor_matrix @ np.append(probes[0], np.float32(1.0))
    times, floors = [], []
    for probe in probes:
        started = time.perf_counter()
        gallery.search(probe, 0.6, 0.06)
        times.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        floor_matrix @ np.append(probe, np.float32(1.0))
        floors.append((time.perf_counter() - started) * 1000)
    return times, floors


def clip_frames(count: int) -> list[npt.NDArray[np.uint8]]:
    """Return up to ``count`` clip frames showing a face, padded from 640x360 to 640x480."""
    capture = cv2.VideoCapture(str(CLIP))
    frames: list[npt.NDArray[np.uint8]] = []
    index = 0
    try:
        while len(frames) < count:
            ok, image = capture.read()
            if not ok:
                break
            if 82 <= index <= 210:  # the stretch where his face fills the kiosk's view
                frames.append(np.asarray(cv2.copyMakeBorder(image, 60, 60, 0, 0,
                                                            cv2.BORDER_CONSTANT), np.uint8))
            index += 1
    finally:
        capture.release()
    return frames


def reference_ms(fr: Any, frame: npt.NDArray[np.uint8]) -> tuple[float, float | None]:
    """The issue's yardstick for one frame: bare HOG detection at 640x480 plus one encoding.

    Returns the whole and the encoding's part (None when no face was found).
    """
    started = time.perf_counter()
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    locations = fr.face_locations(rgb, number_of_times_to_upsample=0)
    encode = None
    if locations:
        located = time.perf_counter()
        fr.face_encodings(rgb, locations[:1])
        encode = (time.perf_counter() - located) * 1000
    return (time.perf_counter() - started) * 1000, encode


async def frame_latency(frames: list[npt.NDArray[np.uint8]], gallery_size: int
                        ) -> tuple[list[float], list[float], list[float], float, list[float],
                                   list[float], str]:
    config = FaceConfig()
    # The corpus faces are enrolled by an engine in this process, so the measured worker only
    # ever sees kiosk frames, as a daemon's worker does.
    photo_job = Job(1, None, retry_upsample=2)
    enrolling = InlineAnalyzer()
    real = []
    for name in ENROL:
        found = await enrolling.analyse(read_photo(CORPUS / "faces" / name), photo_job)
        assert found.encoding is not None, name
        real.append((name, found.encoding))
    await enrolling.stop()
    gallery = random_gallery(gallery_size, real)
    analyzer = ProcessAnalyzer(detector="hog", workers=1, job_timeout_s=60, start_timeout_s=120)
    await analyzer.start()
    try:
        job = Job(config.upsample, config.kiosk_gates, bgr=True)
        totals, detects, encodes, references, dlib_encodes = [], [], [], [], []
        fr = load_face_recognition()
        await analyzer.analyse(frames[0], job)  # warm
        reference_ms(fr, frames[0])
        for frame in frames:
            started = time.perf_counter()
            analysis = await analyzer.analyse(frame, job)
            if analysis.encoding is not None:
                gallery.search(analysis.encoding, config.match_threshold, config.match_margin)
            totals.append((time.perf_counter() - started) * 1000)
            detects.append(analysis.detect_ms)
            if analysis.encoding is not None:
                encodes.append(analysis.encode_ms)
            # Interleaved, one frame each, so both see the same moment of a noisy machine.
            reference, dlib_encode = reference_ms(fr, frame)
            references.append(reference)
            if dlib_encode is not None:
                dlib_encodes.append(dlib_encode)
        worker_peak = max(_status_kb(pid, "VmHWM") for pid in analyzer.pids) / 1024
    finally:
        await analyzer.stop()
    return totals, detects, encodes, worker_peak, references, dlib_encodes, analyzer.encoder


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _pss_kb(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in text.splitlines()
                 if line.startswith("Pss:")), 0)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def daemon_memory() -> dict[str, float]:
    """Start `storeedge run` with face enabled; return its memory once the models are loaded."""
    with tempfile.TemporaryDirectory(prefix="bench-face-") as folder:
        config = Path(folder) / "storeedge.toml"
        config.write_text(f'[paths]\nstate_dir = "{folder}/state"\n[http]\nport = 0\n'
                          '[demo]\nseed = true\n[[lanes]]\nid = "1"\nkind = "kiosk"\n'
                          '[face]\nenabled = true\n', "utf-8")
        log = Path(folder) / "daemon.log"
        with log.open("w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config",  # noqa: S603
                                     str(config)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while "Face workers ready" not in log.read_text() and time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"the daemon exited: {log.read_text()}")
                time.sleep(0.2)
            time.sleep(1.0)  # let start-up settle
            others = _descendants(proc.pid)
            main_kb = _status_kb(proc.pid, "VmHWM")
            rss = [_status_kb(p, "VmRSS") for p in [proc.pid, *others]]
            pss = [_pss_kb(p) for p in [proc.pid, *others]]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    return {"main_peak_mb": main_kb / 1024, "processes": 1 + len(others),
            "rss_total_mb": sum(rss) / 1024, "pss_total_mb": sum(pss) / 1024,
            "main_rss_mb": rss[0] / 1024, "others_rss_mb": sum(rss[1:]) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60, help="frames timed (default 60)")
    parser.add_argument("--gallery", type=int, default=100_000,
                        help="templates for the frame latency and the first search figure")
    parser.add_argument("--big", type=int, default=1_000_000,
                        help="templates for the second search figure (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=50, help="searches timed per size")
    args = parser.parse_args()
    if not CLIP.exists():
        sys.exit(f"face_pipeline: the corpus clip is missing: {CLIP}")

    print(f"Face pipeline at 640x480, gallery {args.gallery:,}; machine: {load_note()}")
    memory = daemon_memory()
    print(f"daemon with models loaded: {memory['processes']} processes, RSS "
          f"{memory['rss_total_mb']:.0f} MB (main {memory['main_rss_mb']:.0f}, worker "
          f"{memory['others_rss_mb']:.0f}), PSS {memory['pss_total_mb']:.0f} MB")
    frames = clip_frames(args.frames)
    totals, detects, encodes, worker_peak, references, dlib_encodes, encoder = asyncio.run(
        frame_latency(frames, args.gallery))
    added = [t - r for t, r in zip(totals, references, strict=True)]
    print(f"frame, end to end (worker round trip + 1:N at {args.gallery:,}): "
          f"median {percentile(totals, 50):.1f} ms, p90 {percentile(totals, 90):.1f} ms over "
          f"{len(totals)} frames (budget median <= 100 ms)")
    print(f"  in the worker: detection + landmarks median {percentile(detects, 50):.1f} ms, "
          f"encoding median {percentile(encodes, 50):.1f} ms ({len(encodes)} faces encoded)")
    print(f"  encoder: {encoder}")
    print(f"  the same network, interleaved: dlib-bin's encoder median "
          f"{percentile(dlib_encodes, 50):.1f} ms, the pipeline's "
          f"{percentile(encodes, 50):.1f} ms (5-point alignment included in both): "
          f"{percentile(dlib_encodes, 50) / percentile(encodes, 50):.1f} times faster")
    print(f"  yardstick, same frames interleaved: bare face_recognition HOG (upsample 0) + one "
          f"encoding median {percentile(references, 50):.1f} ms; the pipeline adds a median "
          f"{percentile(added, 50):.1f} ms per frame (quality gates, 68 landmarks for liveness, "
          "the worker round trip, 1:N)")
    small, small_floor = time_search(args.gallery, args.rounds)
    print(f"1:N search at {args.gallery:,}: median {percentile(small, 50):.2f} ms, "
          f"p90 {percentile(small, 90):.2f} ms (budget <= 2 ms at 100k); floor, interleaved: "
          f"a bare product over as many rows {percentile(small_floor, 50):.2f} ms")
    big, big_floor = time_search(args.big, args.rounds)
    print(f"1:N search at {args.big:,}: median {percentile(big, 50):.2f} ms, "
          f"p90 {percentile(big, 90):.2f} ms (budget <= 20 ms at 1M); floor "
          f"{percentile(big_floor, 50):.2f} ms ({args.big * (DIMENSIONS + 1) * 4 / 1e6:.0f} MB "
          f"read at {args.big * (DIMENSIONS + 1) * 4 / percentile(big_floor, 50) / 1e6:.1f} "
          "GB/s)")
    peak = memory["main_peak_mb"] + worker_peak
    print(f"peak RSS: daemon main {memory['main_peak_mb']:.0f} MB + a worker after "
          f"{len(totals)} frames {worker_peak:.0f} MB = {peak:.0f} MB (budget <= 300 MB)")
    print(f"machine after the run: {load_note()}")
    emit({"frame_median_ms": round(percentile(totals, 50), 1),
          "reference_median_ms": round(percentile(references, 50), 1),
          "added_median_ms": round(percentile(added, 50), 1),
          "encode_median_ms": round(percentile(encodes, 50), 1),
          "dlib_encode_median_ms": round(percentile(dlib_encodes, 50), 1),
          "match_100k_ms": round(percentile(small, 50), 2),
          "match_1m_ms": round(percentile(big, 50), 2),
          "floor_100k_ms": round(percentile(small_floor, 50), 2),
          "floor_1m_ms": round(percentile(big_floor, 50), 2),
          "peak_rss_mb": round(peak)})


if __name__ == "__main__":
    main()
