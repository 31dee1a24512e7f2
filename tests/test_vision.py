"""Barcodes from images: real photos, generated labels, hostile pixels and the decode tool."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import qrcode
import zxingcpp

from drivers.vision import DecodeOptions, ImageError, decode_image, load_image
from tests.helpers import ROOT

# What the pipeline reads from ../shared/corpus/barcodes (README: benchmark figures). Single
# pass, pyzbar reads 53 and zxing-cpp 59 of the 61 labelled photos, 59 together.
CORPUS_READS = 60
IMAGE_SUFFIXES = {".png", ".jpg", ".webp"}


def _labelled(corpus: Path) -> list[tuple[Path, str]]:
    found = []
    for image in sorted((corpus / "barcodes").glob("*/*")):
        label = image.with_suffix(".txt")
        if image.suffix in IMAGE_SUFFIXES and label.exists():
            found.append((image, label.read_bytes().decode("utf-8")))
    return found


def test_corpus_every_read_matches_its_label(corpus: Path) -> None:
    labelled = _labelled(corpus)
    assert len(labelled) == 61
    decoded, wrong = 0, []
    for image, expected in labelled:
        codes = decode_image(load_image(image.read_bytes()))
        texts = {code.text for code in codes}
        wrong += [f"{image.parent.name}/{image.name}: {t!r}" for t in texts if t != expected]
        decoded += expected in texts
    assert wrong == []
    assert decoded >= CORPUS_READS


def test_corpus_nothing_is_read_from_photos_without_codes(corpus: Path) -> None:
    photos = [p for p in sorted((corpus / "barcodes" / "falsepositives-1").iterdir())
              if p.suffix in IMAGE_SUFFIXES]
    assert len(photos) >= 19
    for photo in photos:
        try:
            image = load_image(photo.read_bytes())
        except ImageError:
            continue
        assert decode_image(image) == [], photo.name


def test_corpus_conflicting_reads_of_one_symbol_keep_the_agreed_one(corpus: Path) -> None:
    # zxing-cpp alone reads this rotated EAN-13 twice: once right, once as 7034759003930.
    image = load_image((corpus / "barcodes" / "ean13-1" / "35.webp").read_bytes())
    single = {r.text for r in zxingcpp.read_barcodes(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))}
    assert "7034759003930" in single
    assert [c.text for c in decode_image(image)] == ["5030159003930"]


def _ean13(text: str, scale: int = 3) -> np.ndarray:
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.EAN13)
    bars = np.asarray(barcode.to_image(scale=scale), dtype=np.uint8)
    return np.pad(bars, 40, constant_values=255)


def _qr(text: str) -> np.ndarray:
    image = qrcode.make(text, box_size=6, border=4).get_image().convert("L")
    return np.asarray(image, dtype=np.uint8)


def test_generated_codes_in_any_orientation_and_colour() -> None:
    ean = _ean13("6901234500011")
    for variant in (ean, cv2.rotate(ean, cv2.ROTATE_90_CLOCKWISE), cv2.cvtColor(
            ean, cv2.COLOR_GRAY2BGR)):
        codes = decode_image(variant)
        assert [(c.symbology, c.text, c.aim) for c in codes] == [("EAN13", "6901234500011", "]E0")]
    payment = "134567890123456789"
    codes = decode_image(cv2.cvtColor(_qr(payment), cv2.COLOR_GRAY2BGR))
    assert [(c.symbology, c.text, c.aim) for c in codes] == [("QRCODE", payment, "]Q1")]


def test_two_codes_in_one_frame_are_both_read() -> None:
    frame = np.full((400, 900), 255, np.uint8)
    ean, qr = _ean13("6901234500011"), _qr("MC10000001")
    frame[20:20 + ean.shape[0], 20:20 + ean.shape[1]] = ean
    frame[20:20 + qr.shape[0], 560:560 + qr.shape[1]] = qr
    assert {c.text for c in decode_image(frame)} == {"6901234500011", "MC10000001"}


def test_a_blurred_label_is_read_by_the_extra_passes_only() -> None:
    blurred = cv2.GaussianBlur(_ean13("4006381333931"), (0, 0), 2.0)
    assert decode_image(blurred, DecodeOptions(extra_passes=0)) == []
    assert [c.text for c in decode_image(blurred)] == ["4006381333931"]


@pytest.mark.parametrize("pixels", [
    np.zeros((480, 640, 3), np.uint8),
    np.full((1, 1), 128, np.uint8),
    np.zeros((3, 2000), np.uint8),
    np.random.default_rng(7).integers(0, 256, (480, 640), dtype=np.uint8),
    np.random.default_rng(8).integers(0, 2, (240, 320), dtype=np.uint8) * 255,
])
def test_hostile_pixels_read_nothing_and_raise_nothing(pixels: np.ndarray) -> None:
    assert decode_image(pixels) == []


def test_not_an_image_is_a_clear_error() -> None:
    for data, reason in ((b"", "empty"), (b"GIF89a garbage", "not an image"),
                         (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "damaged|not an image")):
        with pytest.raises(ImageError, match=reason):
            load_image(data)


def test_decode_command_prints_one_json_line_per_file(tmp_path: Path) -> None:
    label = tmp_path / "label.png"
    cv2.imwrite(str(label), _ean13("6901234500011"))
    blank = tmp_path / "blank.jpg"
    cv2.imwrite(str(blank), np.full((100, 100, 3), 200, np.uint8))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "decode", str(label), str(blank), str(broken),
         str(tmp_path / "missing.png")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1  # at least one file could not be read
    assert "Traceback" not in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0] == {"file": str(label),
                        "codes": [{"symbology": "EAN13", "text": "6901234500011"}]}
    assert lines[1] == {"file": str(blank), "codes": []}
    assert lines[2]["file"] == str(broken) and "error" in lines[2]
    assert lines[3] == {"file": str(tmp_path / "missing.png"), "error": "no such file"}


def test_decode_command_on_corpus_photos(corpus: Path) -> None:
    files = [corpus / "barcodes" / "qrcode-1" / "13.webp",
             corpus / "barcodes" / "falsepositives-1" / "1x1.webp"]
    result = subprocess.run([sys.executable, "-m", "edge.cli", "decode", *map(str, files)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [
        {"file": str(files[0]),
         "codes": [{"symbology": "QRCODE", "text": "http://google.com/gwt/n?u=bluenile.com"}]},
        {"file": str(files[1]), "codes": []},
    ]
