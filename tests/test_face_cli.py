"""`storeedge face` as store IT types it, in real subprocesses, and the import guard.

face_recognition ends its process with status 0 when it cannot load its models; these tests
take pkg_resources (or the models package) away the way a newer setuptools does, by shadowing
it on PYTHONPATH, and check that the tools and the daemon's workers fail loudly instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from edge.audit import recent_audit
from edge.store import Store
from tests.face_clips import add_members
from tests.helpers import ROOT, write_config

OBAMA_1 = "faces/obama/obama_1.jpg"
OBAMA_2 = "faces/obama/obama_2.jpg"
BIDEN_1 = "faces/biden/biden_1.jpg"
PARTIAL = "faces/quality/obama_partial_face.jpg"


def storeedge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=180, check=False,
                          env={**os.environ, **(env or {})})


def one_json_object(stdout: str) -> dict[str, object]:
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, stdout
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    return result


def shadow(tmp_path: Path, module: str) -> dict[str, str]:
    """Return an environment in which ``import module`` fails, as if it were not installed."""
    folder = tmp_path / f"without-{module}"
    (folder / module).mkdir(parents=True)
    (folder / module / "__init__.py").write_text(
        f"raise ImportError(\"No module named {module!r}\")\n")
    return {"PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}


def test_compare_prints_one_json_object(tmp_path: Path, corpus: Path) -> None:
    same = storeedge("face", "compare", str(corpus / OBAMA_1), str(corpus / OBAMA_2))
    assert same.returncode == 0, same.stderr
    result = one_json_object(same.stdout)
    assert set(result) == {"distance", "match", "faces"}
    assert result["match"] is True and result["faces"] == [1, 1]
    assert isinstance(result["distance"], float) and result["distance"] < 0.6

    blank = tmp_path / "wall.png"
    PIL.Image.fromarray(np.full((240, 320, 3), 200, np.uint8)).save(blank)
    none = one_json_object(storeedge("face", "compare", str(corpus / BIDEN_1),
                                     str(blank)).stdout)
    assert none == {"distance": None, "match": False, "faces": [1, 0]}


def test_unreadable_files_get_a_clear_error(tmp_path: Path, corpus: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes((corpus / OBAMA_1).read_bytes()[:4000])
    for other, words in [(text, "not an image file"), (tmp_path / "gone.jpg", "No such file"),
                         (truncated, "damaged"), (tmp_path, "folder")]:
        result = storeedge("face", "compare", str(corpus / OBAMA_1), str(other))
        assert result.returncode == 1, result
        assert words in result.stderr and "Traceback" not in result.stderr
        assert result.stdout == ""


def test_enrol_needs_consent_refuses_partial_faces_then_identifies(
        tmp_path: Path, corpus: Path) -> None:
    config = write_config(tmp_path)
    database = tmp_path / "state" / "storeedge.db"

    async def members() -> None:
        store = Store(database)
        await store.open()
        await add_members(store, ["M0001"])
        await store.close()

    asyncio.run(members())
    c = ("--config", str(config))
    refused = storeedge("face", "enroll", "--member", "M0001", str(corpus / OBAMA_1), *c)
    assert refused.returncode == 1 and "has not consented" in refused.stderr

    partial = storeedge("face", "enroll", "--member", "M0001", str(corpus / PARTIAL),
                        "--consent-recorded-by", "王店长", *c)
    assert partial.returncode == 1
    assert "cut off at the left edge" in partial.stderr and "nothing was stored" in partial.stderr
    assert "Recorded store consent of member M0001" in partial.stdout  # the form was signed

    enrolled = storeedge("face", "enroll", "--member", "M0001", str(corpus / OBAMA_1), *c)
    assert enrolled.returncode == 0, enrolled.stderr
    assert "Enrolled member M0001: 1 template(s)" in enrolled.stdout

    found = one_json_object(storeedge("face", "identify", str(corpus / OBAMA_2), *c).stdout)
    assert (found["decision"], found["member_id"], found["faces"]) == ("match", "M0001", 1)
    stranger = one_json_object(storeedge("face", "identify", str(corpus / BIDEN_1), *c).stdout)
    assert (stranger["decision"], stranger["member_id"]) == ("unknown", None)

    async def audit() -> list[tuple[str, str]]:
        store = Store(database)
        await store.open()
        try:
            return [(a.actor, a.action) for a in await recent_audit(store)]
        finally:
            await store.close()

    assert asyncio.run(audit()) == [
        ("cli", "face.enrolled"), ("cli:王店长", "face.enrol_refused"),
        ("cli:王店长", "face.consent_recorded"), ("cli", "face.enrol_refused")]


@pytest.mark.parametrize(("module", "words"), [
    ("pkg_resources", "pkg_resources"),
    ("face_recognition_models", "could not load its models"),
])
def test_a_missing_dependency_is_an_error_not_a_silent_exit(
        tmp_path: Path, corpus: Path, module: str, words: str) -> None:
    result = storeedge("face", "compare", str(corpus / OBAMA_1), str(corpus / OBAMA_2),
                       env=shadow(tmp_path, module))
    assert result.returncode == 1, result
    assert "face recognition is unavailable" in result.stderr and words in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
