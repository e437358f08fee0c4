"""Settings: the README's configuration table lists every one as declared, and root paths are checked."""

from __future__ import annotations

import re

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
