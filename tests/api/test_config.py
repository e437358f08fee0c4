"""Settings: the README's configuration table lists every one as declared, and root paths are checked."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from pydantic import ValidationError

from app.config import Settings
from tests.conftest import ROOT


def test_the_readme_table_lists_every_setting_with_its_default_and_description():
    rows = re.findall(r"^\| `TIRSOLVE_(\w+)` \| (.+?) \| (.+) \|$", (ROOT / "README.md").read_text(), re.M)
    expected = []
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None or field.default == "":
            default = "(empty)"
        else:
            default = "(unset)" if field.default is None else f"`{field.default}`"
        expected.append((name.upper(), default, field.description))
    assert rows == expected


@pytest.mark.parametrize(
    ("given", "root_path"), [("", ""), ("/", ""), ("/tirsolve/", "/tirsolve"), ("/a/b", "/a/b")]
)
def test_a_root_path_is_kept_without_its_trailing_slash(given: str, root_path: str):
    assert Settings(root_path=given).root_path == root_path


@pytest.mark.parametrize("given", ["tirsolve", "/a?b=1", "/a#b", "/é"])
def test_a_root_path_that_is_no_absolute_ascii_path_is_refused(given: str):
    with pytest.raises(ValidationError, match="root path"):
        Settings(root_path=given)


def _serve_with(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIRSOLVE_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "1"],
        env=clean | env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_invalid_settings_stop_the_service_naming_each_variable_without_a_traceback():
    run = _serve_with({"TIRSOLVE_MAX_SAMPLES": "many", "TIRSOLVE_REQUEST_DEADLINE_S": "-1"})
    assert run.returncode != 0
    assert "TIRSOLVE_MAX_SAMPLES='many': Input should be a valid integer" in run.stderr, run.stderr
    assert "TIRSOLVE_REQUEST_DEADLINE_S='-1': Input should be greater than 0" in run.stderr
    assert "Traceback" not in run.stderr


def test_an_invalid_key_list_is_named_but_never_echoed():
    run = _serve_with({"TIRSOLVE_API_KEYS": '["s3cret-key"'})
    assert run.returncode != 0
    assert "TIRSOLVE_API_KEYS" in run.stderr and "s3cret" not in run.stderr, run.stderr


@pytest.mark.parametrize("url", ["localhost:8000/v1", "", "ftp://models/v1", "http://"])
def test_a_model_url_without_http_is_refused_at_start(url: str):
    run = _serve_with({"TIRSOLVE_MODEL_BASE_URL": url})
    assert run.returncode != 0
    assert f"TIRSOLVE_MODEL_BASE_URL={url!r}: Value error, must be an http:// or https:// URL" in run.stderr
