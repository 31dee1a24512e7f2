"""face_recognition's encoder network, run on numpy's BLAS instead of dlib's own loops.

face_recognition encodes a face with dlib's ResNet (``dlib_face_recognition_resnet_model_v1``,
29 convolutions, a 128-number output). dlib-bin, the only dlib this project may install (a dlib
compile is ruled out, see ENVIRONMENT.md), is built without a BLAS, so that network takes
75-100 ms a face on a lane PC; it is most of a kiosk frame's time. The same arithmetic as
im2col and one matrix product per convolution, on the OpenBLAS that numpy ships, takes about
a quarter of that.

This module reads the weights from face_recognition's own model file — the same numbers, not a
retrained or converted model — and runs the same network:

    input 150x150 RGB, (pixel - channel mean) / 256
    conv 7x7/2 (32) · affine · relu · max pool 3x3/2
    residual blocks: 3 x 32, 4 x 64, 3 x 128, 3 x 256, 1 x 256 (the first of each size halves
    the grid; its shortcut is a 2x2/2 average pool, added with zero padding as dlib does)
    average over the grid · fully connected 256 -> 128 without bias

The model file is dlib's own serialisation (``dlib::serialize`` of the network type in dlib's
``dnn_face_recognition_ex.cpp``). No library reads it: the ONNX and OpenCV readers know their
own formats only. The reader below parses exactly the records this network has and refuses
anything else, and ``edge.face.engine.load_encoder`` checks, when a worker starts, that this
network and dlib give the same encoding for a fixed picture before it is used.

Every convolution is followed by an affine layer (batch normalisation, frozen): both are folded
into one matrix product with a bias when the model is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

Floats = npt.NDArray[np.float32]

CHIP_SIDE = 150       # dlib's input_rgb_image_sized<150>
CHIP_PADDING = 0.25   # face_recognition's (dlib's compute_face_descriptor's) chip padding
# The largest difference from dlib's own encoding accepted when the engine checks the network
# on a reference face. Matching faces are 0.6 apart or less; float32 rounding in a different
# order of additions moves an encoding by about 1e-6.
MAX_DIFFERENCE = 1e-3


class ModelFormatError(ValueError):
    """The model file is not the network this module knows how to run."""


class _Reader:
    """dlib's serialisation: variable-length integers, strings, floats, tensors.

    It reads the file piece by piece: the weights are 22 MB, and a face worker's peak memory
    counts whatever is held at once while it loads.
    """

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.size = size

    @property
    def at(self) -> int:
        return self.stream.tell()

    def rewind(self, at: int) -> None:
        self.stream.seek(at)

    def _take(self, count: int) -> bytes:
        raw = self.stream.read(count)
        if len(raw) != count:
            raise ModelFormatError("the model file ends early")
        return raw

    def integer(self) -> int:
        # One control byte (bit 7: negative, low 4 bits: how many bytes follow), then the
        # magnitude, least significant byte first.
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise ModelFormatError(f"bad integer at byte {self.at - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        return float(mantissa * 2.0 ** exponent)

    def string(self) -> str:
        size = self.integer()
        if not 0 < size <= 64:   # layer names only
            raise ModelFormatError(f"expected a layer name at byte {self.at}")
        try:
            return self._take(size).decode("ascii")
        except UnicodeDecodeError:
            raise ModelFormatError(f"expected a layer name at byte {self.at - size}") from None

    def tensor(self) -> Floats:
        if self.integer() != 2:
            raise ModelFormatError(f"unknown tensor version at byte {self.at}")
        shape = tuple(self.integer() for _ in range(4))
        count = shape[0] * shape[1] * shape[2] * shape[3]
        if self.at + 4 * count > self.size:
            raise ModelFormatError("the model file ends early")
        values = np.frombuffer(self._take(4 * count), dtype="<f4")
        return values.astype(np.float32, copy=False).reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        if self.integer() != 1:
            raise ModelFormatError(f"unknown alias version at byte {self.at}")
        n, k, nr, nc = (self.integer() for _ in range(4))
        return n, k, nr, nc

    def flags(self, count: int) -> None:
        if any(flag not in b"01" for flag in self._take(count)):
            raise ModelFormatError(f"expected {count} flags at byte {self.at - count}")

    def done(self) -> bool:
        return self.at == self.size


@dataclass(frozen=True, slots=True)
class _Conv:
    weights: Floats     # (filters, k * nr * nc), columns in (channel, row, column) order
    bias: Floats        # (filters,)
    size: int
    stride: int
    padding: int


@dataclass(frozen=True, slots=True)
class _Block:
    first: _Conv
    second: _Conv
    down: bool           # the first convolution has stride 2; the shortcut is average pooled


@dataclass(frozen=True, slots=True)
class _Record:
    kind: str
    conv: _Conv | None = None
    pool: tuple[int, int, int, int] | None = None   # size, size, stride, padding
    matrix: Floats | None = None                    # fully connected: (inputs, outputs)


def _read_records(stream: BinaryIO, size: int
                  ) -> tuple[tuple[float, float, float], list[_Record]]:
    r = _Reader(stream, size)
    try:
        head = (r.integer(), r.string())
    except ModelFormatError:
        head = (0, "")
    if head != (1, "loss_metric_2"):
        raise ModelFormatError("not a dlib metric-learning network (loss_metric_2)")
    r.real()
    r.real()                               # margin, distance threshold: training only
    # The version numbers of the nested layers come first (1 to 3), then the input layer.
    while True:
        at = r.at
        version = r.integer()
        if version not in (1, 2, 3):
            r.rewind(at)
            break
    if r.string() != "input_rgb_image_sized":
        raise ModelFormatError("expected dlib's input_rgb_image_sized layer")
    means = (r.real(), r.real(), r.real())
    if (r.integer(), r.integer()) != (CHIP_SIDE, CHIP_SIDE):
        raise ModelFormatError(f"expected {CHIP_SIDE}x{CHIP_SIDE} input")
    records: list[_Record] = []
    while not r.done():
        kind = r.string()
        reader = _LAYERS.get(kind)
        if reader is None:
            raise ModelFormatError(f"unexpected layer {kind!r} in the model file")
        reader(r, kind, records)
        # Each layer's wrapper: three flags and three tensors (gradients, cached output).
        r.flags(3)
        for _ in range(3):
            r.tensor()
        if len(records) == 1 and r.integer() != 1:  # the layer on the input: an expansion factor
            raise ModelFormatError("expected one sample per input image")
    return means, records


def _read_conv(r: _Reader, kind: str, records: list[_Record]) -> None:
    params = r.tensor().reshape(-1)
    filters, nr, nc, stride_y, stride_x, pad_y, pad_x = (r.integer() for _ in range(7))
    shape = r.alias()
    r.alias()
    for _ in range(4):
        r.real()                   # learning rates and weight decays
    if nr != nc or stride_y != stride_x or pad_y != pad_x or shape[0] != filters:
        raise ModelFormatError("expected square convolutions")
    size = filters * shape[1] * nr * nc
    if params.size != size + filters:
        raise ModelFormatError("convolution parameters of the wrong size")
    # Views on the bytes just read; the affine layer that follows makes the copy kept.
    records.append(_Record(kind, conv=_Conv(params[:size].reshape(filters, -1), params[size:],
                                            nr, stride_y, pad_y)))


def _read_affine(r: _Reader, kind: str, records: list[_Record]) -> None:
    params = r.tensor().reshape(-1)
    r.alias()
    r.alias()
    if r.integer() != 0:
        raise ModelFormatError("expected an affine layer in convolution mode")
    previous = records[-1] if records else None
    if previous is None or previous.kind != "con_4" or previous.conv is None:
        raise ModelFormatError("expected an affine layer after a convolution only")
    half = params.size // 2
    records[-1] = _Record("con_4", conv=_fold(previous.conv, params[:half], params[half:]))
    records.append(_Record(kind))


def _read_pool(r: _Reader, kind: str, records: list[_Record]) -> None:
    nr, nc, stride_y, stride_x, pad_y, pad_x = (r.integer() for _ in range(6))
    if nr != nc or stride_y != stride_x or pad_y != pad_x or pad_y != 0:
        raise ModelFormatError("expected square pooling without padding")
    records.append(_Record(kind, pool=(nr, nc, stride_y, pad_y)))


def _read_plain(_r: _Reader, kind: str, records: list[_Record]) -> None:
    records.append(_Record(kind))


def _read_fc(r: _Reader, kind: str, records: list[_Record]) -> None:
    outputs, inputs = r.integer(), r.integer()
    params = r.tensor().reshape(-1)
    r.alias()
    r.alias()
    if r.integer() != 1 or params.size != inputs * outputs:  # 1: FC_NO_BIAS
        raise ModelFormatError("expected a fully connected layer without bias")
    for _ in range(4):
        r.real()
    records.append(_Record(kind, matrix=params.reshape(inputs, outputs).copy()))


# The layers this network has, by the name dlib writes before each (with its format version).
_LAYERS = {"con_4": _read_conv, "affine_": _read_affine, "max_pool_2": _read_pool,
           "avg_pool_2": _read_pool, "relu_": _read_plain, "add_prev_": _read_plain,
           "fc_2": _read_fc}


def _fold(c: _Conv, gamma: Floats, beta: Floats) -> _Conv:
    """One convolution for a convolution and the per-channel scale and shift after it."""
    if gamma.size != c.bias.size:
        raise ModelFormatError("an affine layer of another width than its convolution")
    return _Conv(c.weights * gamma[:, None], c.bias * gamma + beta, c.size, c.stride, c.padding)


class FaceResNet:
    """dlib's face encoder as numpy matrix products."""

    def __init__(self, means: tuple[float, float, float], stem: _Conv, pool: int,
                 blocks: list[_Block], fc: Floats) -> None:
        self._means = np.asarray(means, dtype=np.float32)
        self._stem = stem
        self._pool = pool
        self._blocks = blocks
        self._fc = fc

    @classmethod
    def load(cls, path: Path) -> FaceResNet:
        """Read face_recognition's model file; ``ModelFormatError`` if it is another network."""
        try:
            with path.open("rb") as stream:
                means, records = _read_records(stream, os.fstat(stream.fileno()).st_size)
        except OSError as err:
            raise ModelFormatError(f"cannot read {path}: {err.strerror}") from None
        kinds = [rec.kind for rec in records]
        at = 0

        def take(*expected: str) -> list[_Record]:
            nonlocal at
            got = kinds[at:at + len(expected)]
            if tuple(got) != expected:
                raise ModelFormatError(f"{path}: layers {got} where {list(expected)} belong")
            at += len(expected)
            return records[at - len(expected):at]

        conv, _, _, pooling = take("con_4", "affine_", "relu_", "max_pool_2")
        assert conv.conv is not None and pooling.pool is not None
        stem = conv.conv
        if pooling.pool[2] != 2:
            raise ModelFormatError(f"{path}: unexpected pooling after the first convolution")
        blocks: list[_Block] = []
        while kinds[at:at + 1] == ["con_4"]:
            c1, _, _, c2, _ = take("con_4", "affine_", "relu_", "con_4", "affine_")
            down = kinds[at:at + 1] == ["avg_pool_2"]
            if down:
                (shortcut,) = take("avg_pool_2")
                if shortcut.pool != (2, 2, 2, 0):
                    raise ModelFormatError(f"{path}: unexpected shortcut pooling")
            take("add_prev_", "relu_")
            assert c1.conv is not None and c2.conv is not None
            first, second = c1.conv, c2.conv
            if (first.stride == 2) != down or second.stride != 1:
                raise ModelFormatError(f"{path}: unexpected strides in a residual block")
            blocks.append(_Block(first, second, down))
        everything, fc = take("avg_pool_2", "fc_2")
        if everything.pool is None or everything.pool[0] != 0 or at != len(records):
            raise ModelFormatError(f"{path}: unexpected layers after the residual blocks")
        assert fc.matrix is not None
        return cls(means, stem, pooling.pool[0], blocks, fc.matrix)

    def encode(self, chip: npt.NDArray[np.uint8]) -> Floats:
        """Encode one aligned 150x150 RGB face chip (``dlib.get_face_chip``) as 128 floats."""
        if chip.shape != (CHIP_SIDE, CHIP_SIDE, 3) or chip.dtype != np.uint8:
            raise ValueError(f"expected a {CHIP_SIDE}x{CHIP_SIDE} RGB chip, got {chip.shape}")
        x = (chip.astype(np.float32) - self._means) * np.float32(1 / 256)
        x = _relu(_conv(x, self._stem))
        x = _pool(x, self._pool, 2, np.max)
        for block in self._blocks:
            y = _relu(_conv(x, block.first))
            y = _conv(y, block.second)
            x = _relu(_add(_pool(x, 2, 2, np.mean) if block.down else x, y))
        features = x.mean(axis=(0, 1), dtype=np.float32)
        return np.asarray(features @ self._fc, dtype=np.float32)


def _conv(x: Floats, c: _Conv) -> Floats:
    if c.padding:
        p = c.padding
        x = np.pad(x, ((p, p), (p, p), (0, 0)))
    windows = sliding_window_view(x, (c.size, c.size), axis=(0, 1))[::c.stride, ::c.stride]
    rows, cols = windows.shape[:2]
    out = windows.reshape(rows * cols, -1) @ c.weights.T
    out += c.bias
    return out.reshape(rows, cols, -1)


def _relu(x: Floats) -> Floats:
    return np.maximum(x, 0, out=x)


def _pool(x: Floats, size: int, stride: int, how: Callable[..., Any]) -> Floats:
    windows = sliding_window_view(x, (size, size), axis=(0, 1))[::stride, ::stride]
    return np.asarray(how(windows, axis=(3, 4)), dtype=np.float32)


def _add(a: Floats, b: Floats) -> Floats:
    """dlib's add_prev: the larger of each dimension, the smaller tensor zero padded."""
    if a.shape == b.shape:
        return a + b
    out = np.zeros(tuple(max(p, q) for p, q in zip(a.shape, b.shape, strict=True)), np.float32)
    out[:a.shape[0], :a.shape[1], :a.shape[2]] += a
    out[:b.shape[0], :b.shape[1], :b.shape[2]] += b
    return out
