"""1:1 verification over a CSV of photo pairs, with the kiosk's pipeline and threshold.

    python -m benchmarks.face_verify PAIRS.csv [--config storeedge.toml]

The CSV has a header ``file_x,file_y,Decision``; Decision is Yes (same person) or No; paths are
relative to the CSV's folder. Each pair goes through ``edge.face.verify.compare_images`` — the
code behind ``storeedge face compare`` — with ``[face] match_threshold``. The same pairs also go
through plain face_recognition with its default settings (first face found, HOG with one
upsampling, tolerance 0.6; a photo without a face counts as "No") for comparison.

``benchmarks/face_pairs.csv`` holds pairs built from ``../shared/corpus/faces``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._util import emit, load_note
from edge.config import load_config
from edge.face.engine import Job, load_face_recognition, read_photo
from edge.face.gallery import distance
from edge.face.pool import InlineAnalyzer
from edge.face.types import Encoding, FaceError

MAX_PAIRS = 100_000


@dataclass(frozen=True, slots=True)
class Pair:
    x: Path
    y: Path
    same: bool


@dataclass
class Tally:
    true_accepts: int = 0
    false_accepts: int = 0
    true_rejects: int = 0
    false_rejects: int = 0

    def add(self, same: bool, match: bool) -> None:
        if same and match:
            self.true_accepts += 1
        elif match:
            self.false_accepts += 1
        elif same:
            self.false_rejects += 1
        else:
            self.true_rejects += 1

    def figures(self) -> dict[str, Any]:
        pairs = self.true_accepts + self.false_accepts + self.true_rejects + self.false_rejects
        right = self.true_accepts + self.true_rejects
        return {"pairs": pairs, "accuracy": round(right / pairs, 4) if pairs else None,
                "true_accepts": self.true_accepts, "false_accepts": self.false_accepts,
                "true_rejects": self.true_rejects, "false_rejects": self.false_rejects}


def read_pairs(path: Path) -> list[Pair]:
    """Parse the CSV strictly; raise ValueError naming the line of the first bad row."""
    folder = path.resolve().parent
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        if header != ["file_x", "file_y", "Decision"]:
            raise ValueError(f"{path}: the header must be file_x,file_y,Decision, got "
                             f"{','.join(header) or 'nothing'}")
        pairs = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            line = reader.line_num
            if len(row) != 3:
                raise ValueError(f"{path}:{line}: expected 3 columns, got {len(row)}")
            decision = row[2].strip().lower()
            if decision not in ("yes", "no"):
                raise ValueError(f"{path}:{line}: Decision must be Yes or No, got {row[2]!r}")
            pairs.append(Pair(folder / row[0].strip(), folder / row[1].strip(),
                              decision == "yes"))
            if len(pairs) > MAX_PAIRS:
                raise ValueError(f"{path}: more than {MAX_PAIRS} pairs")
    return pairs


async def ours(pairs: list[Pair], threshold: float, upsample: int) -> tuple[Tally, list[str]]:
    """Run the kiosk's pipeline: dominant face, finer search when none, kiosk threshold."""
    analyzer = InlineAnalyzer()
    cache: dict[Path, Encoding | None] = {}
    job = Job(upsample, None, retry_upsample=upsample + 1)

    async def encode(path: Path) -> Encoding | None:
        if path not in cache:
            try:
                cache[path] = (await analyzer.analyse(read_photo(path), job)).encoding
            except FaceError as err:
                print(f"  {err}", file=sys.stderr)
                cache[path] = None
        return cache[path]

    tally, misses = Tally(), []
    for pair in pairs:
        a, b = await encode(pair.x), await encode(pair.y)
        found = distance(a, b) if a is not None and b is not None else None
        match = found is not None and found <= threshold
        tally.add(pair.same, match)
        if match != pair.same:
            misses.append(f"{'missed' if pair.same else 'FALSE ACCEPT'} {pair.x.name} "
                          f"{pair.y.name} distance {found if found is None else round(found, 3)}")
    return tally, misses


def plain(pairs: list[Pair]) -> Tally:
    """Run face_recognition as its README shows it: defaults, first face, tolerance 0.6."""
    fr = load_face_recognition()
    cache: dict[Path, Any] = {}

    def encode(path: Path) -> Any:
        if path not in cache:
            try:
                found = fr.face_encodings(fr.load_image_file(str(path)))
            except (OSError, ValueError):
                found = []
            cache[path] = found[0] if found else None
        return cache[path]

    tally = Tally()
    for pair in pairs:
        a, b = encode(pair.x), encode(pair.y)
        match = a is not None and b is not None and bool(fr.compare_faces([a], b)[0])
        tally.add(pair.same, match)
    return tally


def line(name: str, figures: dict[str, Any]) -> str:
    return (f"{name:<34} {figures['true_accepts'] + figures['true_rejects']:>5} of "
            f"{figures['pairs']} right ({figures['accuracy']:.2%}), false accepts "
            f"{figures['false_accepts']}, false rejects {figures['false_rejects']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path, help="CSV of file_x,file_y,Decision")
    parser.add_argument("--config", type=Path, default=None,
                        help="take [face] match_threshold from this config (default: built in)")
    parser.add_argument("--no-plain", action="store_true",
                        help="skip the plain face_recognition comparison")
    args = parser.parse_args()
    try:
        pairs = read_pairs(args.pairs)
    except (OSError, ValueError) as err:
        print(f"face_verify: {err}", file=sys.stderr)
        return 2
    face = load_config(args.config).face
    mine, misses = asyncio.run(ours(pairs, face.match_threshold, face.photo_upsample))
    print(f"Face verification, {len(pairs)} pairs from {args.pairs}, threshold "
          f"{face.match_threshold}")
    print(f"Machine: {load_note()}")
    figures = mine.figures()
    print(line("kiosk pipeline (dominant face)", figures))
    for miss in misses:
        print(f"  {miss}")
    result: dict[str, Any] = dict(figures)
    if not args.no_plain:
        baseline = plain(pairs).figures()
        print(line("plain face_recognition defaults", baseline))
        result["plain"] = baseline
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
