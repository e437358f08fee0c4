"""Removing trees that code wrote: as deep and as locked as it likes, never through a planted symlink."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from sandbox import trees

CHILD_UID = 65103


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    (tmp_path / "victim" / "sub").mkdir(parents=True)
    (tmp_path / "victim" / "keep").write_text("host data")
    return tmp_path / "victim"


def test_a_symlink_planted_under_an_orphans_name_is_not_followed(victim: Path) -> None:
    # /tmp is shared: anyone may create "sandbox-work-<dead pid>-x" pointing at a directory of ours.
    link = Path(tempfile.gettempdir()) / f"sandbox-work-{os.getpid()}-planted"
    link.symlink_to(victim)
    try:
        trees.remove_tree(str(link))
        assert sorted(os.listdir(victim)) == ["keep", "sub"]
    finally:
        link.unlink()


def test_a_directory_of_another_user_is_left_alone(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    (foreign / "x").mkdir(parents=True)
    os.chown(foreign, CHILD_UID, CHILD_UID)
    trees.remove_tree(str(foreign))
    assert os.listdir(foreign) == ["x"]


def test_a_deep_locked_tree_is_emptied_as_its_owner() -> None:
    root = Path(tempfile.mkdtemp())  # not below pytest's 0700 directory: the owner must reach its own
    root.chmod(0o711)  # like a work root
    workdir = root / str(CHILD_UID)
    workdir.mkdir()
    os.chown(workdir, CHILD_UID, CHILD_UID)
    code = (
        "import os\nos.chdir(os.environ['WORKDIR'])\n"
        "os.mkdir('locked')\nopen('locked/data', 'w').write('x')\nos.chmod('locked', 0)\n"
        "os.symlink('/usr', 'usr')\nfor _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\n"
        "os.chdir(os.environ['WORKDIR'])\nos.chmod('.', 0)\n"
    )
    try:
        env = {"WORKDIR": str(workdir)}
        subprocess.run(["python3", "-c", code], user=CHILD_UID, group=CHILD_UID, env=env, check=True)
        trees.empty_dir(str(workdir))
        assert os.listdir(workdir) == [] and os.stat(workdir).st_mode & 0o777 == 0o700
        assert os.path.isdir("/usr/lib")  # the symlink went, not what it pointed to
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=True)
