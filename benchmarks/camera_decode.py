"""Barcodes read from real photos: our pipeline against single-pass pyzbar and zxing-cpp.

    python -m benchmarks.camera_decode [FOLDER] [--repeat N]

FOLDER is laid out like ../shared/corpus/barcodes (the default): one sub-folder per set, each
image ``N.ext`` labelled by ``N.txt`` holding the exact expected text; folders named
``falsepositives-*`` hold photos with no code at all. An image counts as decoded when the
expected text is among the reads; every other read (a wrong text, or anything from a
false-positive photo) is a false read.

For comparison, in the same run and on the same decoded pixels: pyzbar alone, zxing-cpp alone
(each one call on the grayscale image) and the two together (an image counts when either
reads it). Times are per image, decoding only (files are read and decoded to pixels first).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zxingcpp
from pyzbar import pyzbar

from benchmarks._util import emit, load_note, percentile
from drivers.vision import DecodeOptions, ImageError, decode_image, load_image, to_gray

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "barcodes"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


@dataclass
class Sample:
    folder: str
    name: str
    image: np.ndarray
    expected: str | None      # None: a photo with no code


@dataclass
class Tally:
    decoded: int = 0
    false_reads: int = 0
    ms: list[float] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


def load_samples(root: Path) -> tuple[list[Sample], list[str]]:
    samples, unreadable = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            label = path.with_suffix(".txt")
            if label.exists():
                expected: str | None = label.read_bytes().decode("utf-8")
            elif folder.name.startswith("falsepositives"):
                expected = None
            else:
                continue
            try:
                image = load_image(path.read_bytes())
            except ImageError as err:
                unreadable.append(f"{folder.name}/{path.name}: {err}")
                continue
            samples.append(Sample(folder.name, path.name, image, expected))
    return samples, unreadable


def zbar_once(image: np.ndarray) -> list[str]:
    try:
        return [r.data.decode("utf-8", "replace") for r in pyzbar.decode(to_gray(image))]
    except Exception:  # pyzbar raises ValueError on some photos; that is a miss
        return []


def zxing_once(image: np.ndarray) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(to_gray(image)) if r.valid]


def pipeline(image: np.ndarray) -> list[str]:
    return [code.text for code in decode_image(image, DecodeOptions())]


def measure(samples: list[Sample], read: Callable[[np.ndarray], list[str]],
            repeat: int) -> tuple[Tally, dict[str, list[str]]]:
    tally, reads = Tally(), {}
    for sample in samples:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            texts = read(sample.image)
            best = min(best, (time.perf_counter() - t0) * 1000)
        tally.ms.append(best)
        key = f"{sample.folder}/{sample.name}"
        reads[key] = texts
        score(tally, key, sample.expected, texts)
    return tally, reads


def score(tally: Tally, key: str, expected: str | None, texts: list[str]) -> None:
    if expected is not None and expected in texts:
        tally.decoded += 1
    elif expected is not None:
        tally.missed.append(key)
    wrong = [t for t in set(texts) if t != expected]
    tally.false_reads += len(wrong)
    tally.wrong += [f"{key}: {t[:40]!r}" for t in wrong]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?", default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3, help="runs per image; the best counts")
    args = parser.parse_args()
    samples, unreadable = load_samples(args.folder)
    labelled = sum(1 for s in samples if s.expected is not None)
    print(f"{len(samples)} images in {args.folder} ({labelled} labelled); {load_note()}")
    for note in unreadable:
        print(f"  not an image: {note}")

    zbar, zbar_reads = measure(samples, zbar_once, args.repeat)
    zxing, zxing_reads = measure(samples, zxing_once, args.repeat)
    both = Tally()
    for sample in samples:
        key = f"{sample.folder}/{sample.name}"
        score(both, key, sample.expected, zbar_reads[key] + zxing_reads[key])
    ours, _ = measure(samples, pipeline, args.repeat)

    print("\nper folder (ours / pyzbar / zxing-cpp / both):")
    for folder in sorted({s.folder for s in samples}):
        keys = [f"{s.folder}/{s.name}" for s in samples if s.folder == folder]
        n = sum(1 for s in samples if s.folder == folder and s.expected is not None)
        cells = []
        for tally in (ours, zbar, zxing, both):
            hits = sum(1 for k in keys if k not in tally.missed) if n else 0
            wrong = sum(1 for w in tally.wrong if w.split(":")[0] in keys)
            cells.append(f"{hits}/{n}" + (f" ({wrong} false)" if wrong else ""))
        print(f"  {folder:<20} " + "   ".join(f"{c:<14}" for c in cells))

    print("\noverall:")
    for name, tally in (("pyzbar alone", zbar), ("zxing-cpp alone", zxing),
                        ("pyzbar + zxing-cpp", both), ("StoreEdge pipeline", ours)):
        timing = "" if not tally.ms else (
            f", median {statistics.median(tally.ms):.2f} ms, p90 {percentile(tally.ms, 90):.2f} ms"
            f", max {max(tally.ms):.1f} ms")
        print(f"  {name:<20} {tally.decoded}/{labelled} decoded, {tally.false_reads} false reads"
              + timing)
    for key in ours.missed:
        print(f"  missed: {key}")
    for line in ours.wrong:
        print(f"  FALSE READ: {line}")
    emit({"decoded": ours.decoded, "labelled": labelled, "false_reads": ours.false_reads,
          "median_ms": round(statistics.median(ours.ms), 2),
          "p90_ms": round(percentile(ours.ms, 90), 2),
          "pyzbar": zbar.decoded, "zxing_cpp": zxing.decoded, "both": both.decoded,
          "both_false_reads": both.false_reads, "images": len(samples), "load": load_note()})


if __name__ == "__main__":
    main()
