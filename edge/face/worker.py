"""A face worker process: ``python -m edge.face.worker DETECTOR``, driven over stdin/stdout.

It imports only the engine (not the daemon: a multiprocessing worker would re-import the
daemon's main module and every driver it pulls in, 20 MB and growing), loads the models once,
and answers one request at a time. Frames: an 8-byte big-endian length, then a pickle.
The first frame it writes is ``("ready", (pid, encoder note))`` or ``("unavailable", reason)``;
then each
request ``(image, job)`` gets ``("ok", analysis)`` or ``("error", message)``.

Pickle is safe here: both ends are this code, over a pipe private to the parent and its child.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
from typing import Any, BinaryIO

from .types import FaceError, FaceUnavailable

HEADER = struct.Struct(">Q")
MAX_MESSAGE = 64 * 1024 * 1024   # a 4K frame is 25 MB; nothing legitimate is larger
_LARGE_PICTURE = 1280 * 960 * 3  # bytes: larger than a camera frame means a photo


def write_message(stream: BinaryIO, message: Any) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


def read_message(stream: BinaryIO) -> Any:
    """Return the next message, or None at the end of the stream."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise FaceError(f"a {size}-byte message is over the {MAX_MESSAGE}-byte limit")
    body = stream.read(size)
    if len(body) < size:
        return None
    return pickle.loads(body)  # noqa: S301 - our own parent, over a private pipe


def serve(detector: str, requests: BinaryIO, replies: BinaryIO) -> int:
    """Load the engine, then answer requests until the input ends."""
    from .engine import FaceEngine, give_back_memory  # noqa: PLC0415 - after the pipe is set up

    try:
        engine = FaceEngine(detector, keep_dlib=False)
    except FaceUnavailable as err:
        write_message(replies, ("unavailable", str(err)))
        return 1
    write_message(replies, ("ready", (os.getpid(), engine.encoder.note)))
    while True:
        request = read_message(requests)
        if request is None:
            return 0
        image, job = request
        try:
            write_message(replies, ("ok", engine.analyse(image, job)))
        except FaceError as err:
            write_message(replies, ("error", str(err)))
        except Exception as err:  # a bad frame must not cost a restart and a model reload
            write_message(replies, ("error", f"{type(err).__name__}: {err}"))
        finally:
            if image.size > _LARGE_PICTURE:
                give_back_memory()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the daemon, which stops us
    replies = sys.stdout.buffer
    sys.stdout = sys.stderr  # anything printed by a library must not corrupt the replies
    detector = sys.argv[1] if len(sys.argv) > 1 else "hog"
    try:
        return serve(detector, sys.stdin.buffer, replies)
    except SystemExit:
        # face_recognition's quit() past our guard: say so rather than exit 0 silently.
        write_message(replies, ("unavailable", "the face engine exited while loading"))
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
