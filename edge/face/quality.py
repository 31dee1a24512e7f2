"""Pure measurements of a detected face: eye aspect ratio, head pose, sharpness, cut-off edges.

Every function takes plain arrays and returns numbers, so the worker processes and the tests
use the same code. The landmark names are face_recognition's 68-point groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from .types import Box, FaceMeasure, Gates, Quality

Points = npt.NDArray[np.float64]
Landmarks = Mapping[str, Points]

SHARPNESS_SIDE = 96  # faces are compared for sharpness at one scale, whatever their size

# A generic adult head in millimetres (nose tip at the origin), for head pose by solvePnP.
_MODEL_POINTS = np.array([
    (0.0, 0.0, 0.0),          # nose tip (68-point index 30)
    (0.0, -330.0, -65.0),     # chin (8)
    (-225.0, 170.0, -135.0),  # outer corner of the eye on the image's left (36)
    (225.0, 170.0, -135.0),   # outer corner of the eye on the image's right (45)
    (-150.0, -150.0, -125.0),  # mouth corner, image left (48)
    (150.0, -150.0, -125.0),   # mouth corner, image right (54)
])


def eye_aspect_ratio(eye: Points) -> float:
    """Return the eye aspect ratio of six eye points (Soukupová and Čech, 2016)."""
    vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    horizontal = 2.0 * np.linalg.norm(eye[0] - eye[3])
    return float(vertical / horizontal) if horizontal > 0 else 0.0


def shape_ratio(points: Landmarks) -> float:
    """Return the eyes-to-mouth height over the distance between the eyes.

    Turning the head, nodding, or tilting a printed photo scale this and the eye aspect ratio
    alike; a blink changes only the eyes. Liveness divides one by the other.
    """
    left, right = points["left_eye"].mean(axis=0), points["right_eye"].mean(axis=0)
    mouth = (points["top_lip"][0] + points["top_lip"][6]) / 2
    across = float(np.linalg.norm(right - left))
    down = float(np.linalg.norm(mouth - (left + right) / 2))
    return down / across if across > 0 else 0.0


def head_pose(points: Landmarks, width: int, height: int) -> tuple[float, float, float]:
    """Return (yaw, pitch, roll) in degrees from six landmarks and a generic head model."""
    image_points = np.array([
        points["nose_bridge"][3], points["chin"][8], points["left_eye"][0],
        points["right_eye"][3], points["top_lip"][0], points["top_lip"][6],
    ], dtype=np.float64)
    focal = float(max(width, height))
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    ok, rvec, _tvec = cv2.solvePnP(_MODEL_POINTS, image_points, camera, np.zeros(4),
                                   flags=cv2.SOLVEPNP_ITERATIVE)
    eyes = points["right_eye"].mean(axis=0) - points["left_eye"].mean(axis=0)
    roll = math.degrees(math.atan2(float(eyes[1]), float(eyes[0])))
    if not ok:
        return 90.0, 90.0, roll
    rotation, _ = cv2.Rodrigues(rvec)
    angles = cv2.RQDecomp3x3(rotation)[0]
    pitch, yaw = float(angles[0]), float(angles[1])
    # The model's y axis points up and the image's down: a frontal face decomposes to ±180.
    pitch = pitch - 180.0 if pitch > 90 else pitch + 180.0 if pitch < -90 else pitch
    return yaw, pitch, roll


def sharpness(gray: npt.NDArray[Any], box: Box) -> float:
    """Return the variance of the Laplacian over the face, scaled to a fixed size."""
    h, w = gray.shape[:2]
    crop = gray[max(box.top, 0):min(box.bottom, h), max(box.left, 0):min(box.right, w)]
    if crop.size == 0:
        return 0.0
    side = SHARPNESS_SIDE
    shrink = crop.shape[0] > side
    scaled = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA if shrink
                        else cv2.INTER_LINEAR)
    return float(cv2.Laplacian(scaled, cv2.CV_64F).var())


def cut_off_edge(box: Box, points: Landmarks, width: int, height: int) -> str | None:
    """Return the picture edge a face runs over ('left', 'right', 'top', 'bottom'), or None.

    The detector clips its box to the picture, so a box on the edge or landmarks beyond it
    mean part of the face is missing.
    """
    every = np.concatenate([np.asarray(p) for p in points.values()])
    margin = max(2.0, 0.02 * box.width)
    low = every.min(axis=0)
    high = every.max(axis=0)
    if box.left <= 0 or low[0] < margin:
        return "left"
    if box.right >= width or high[0] > width - 1 - margin:
        return "right"
    if box.top <= 0 or low[1] < margin:
        return "top"
    if box.bottom >= height or high[1] > height - 1 - margin:
        return "bottom"
    return None


def dominant_face(boxes: Sequence[Box], width: int, height: int,
                  sizes: Sequence[float] | None = None) -> int | None:
    """Return the index of the shopper's face: the largest, preferring the most central.

    ``sizes`` (``face_height``) measure the faces more finely than the detector's boxes, which
    come in steps of about 20%; faces of one size go to the more central.
    """
    if not boxes:
        return None
    cx, cy = width / 2, height / 2
    half_diagonal = math.hypot(cx, cy) or 1.0
    measures = list(sizes) if sizes is not None else [b.width for b in boxes]

    def score(i: int) -> float:
        x, y = boxes[i].center
        off_center = math.hypot(x - cx, y - cy) / half_diagonal
        return measures[i] ** 2 * (1.0 - 0.5 * off_center)

    return max(range(len(boxes)), key=score)


def face_height(points: Mapping[str, Sequence[tuple[int, int]]]) -> float:
    """Return the height of a face's 68 landmarks, brows to chin: turning the head keeps it."""
    ys = [y for group in points.values() for _x, y in group]
    return float(max(ys) - min(ys)) if ys else 0.0


def crowded(boxes: Sequence[Box], dominant: int, ratio: float = 0.5) -> bool:
    """Say whether another face is nearly as large as the dominant one (whose is it, then?)."""
    area = boxes[dominant].width * boxes[dominant].height
    return any(i != dominant and b.width * b.height >= ratio * area for i, b in enumerate(boxes))


def measure(
    box: Box, points: Landmarks, gray: npt.NDArray[Any], width: int, height: int
) -> FaceMeasure:
    """Measure one detected face."""
    yaw, pitch, roll = head_pose(points, width, height)
    return FaceMeasure(
        box=box, size_px=min(box.width, box.height), sharpness=sharpness(gray, box),
        yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll,
        ear_left=eye_aspect_ratio(points["left_eye"]),
        ear_right=eye_aspect_ratio(points["right_eye"]), shape_ratio=shape_ratio(points),
        cut_off=cut_off_edge(box, points, width, height))


def check(face: FaceMeasure, gates: Gates) -> Quality | None:
    """Return why ``face`` fails ``gates``, or None when it is good enough."""
    if face.cut_off is not None:
        return Quality("cut_off", f"the face is cut off at the {face.cut_off} edge of the "
                       "picture: the whole face must be in the picture")
    if face.size_px < gates.min_face_px:
        return Quality("too_small", f"the face is {face.size_px} px wide, at least "
                       f"{gates.min_face_px} px is needed: come closer or use a larger photo")
    if abs(face.yaw_deg) > gates.max_yaw_deg or abs(face.pitch_deg) > gates.max_pitch_deg \
            or abs(face.roll_deg) > gates.max_roll_deg:
        return Quality("turned", f"the face is turned (yaw {face.yaw_deg:.0f}°, pitch "
                       f"{face.pitch_deg:.0f}°, roll {face.roll_deg:.0f}°): look straight at "
                       "the camera")
    if face.sharpness < gates.min_sharpness:
        return Quality("blurry", f"the face is blurred (sharpness {face.sharpness:.0f}, at "
                       f"least {gates.min_sharpness:.0f} needed): hold still, check the focus")
    return None
