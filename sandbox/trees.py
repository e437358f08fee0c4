"""Removing directory trees that sandboxed code wrote (work directories where there is no per-child tmpfs).

Code decides the shape of such a tree: thousands of levels deep (``shutil.rmtree`` recurses and fails
with RecursionError), directories it made unreadable (mode 000), symlinks pointing anywhere. So the
walk is iterative, holds one directory fd at a time, never follows a symlink, and acts as the tree's
owner (its file-system uid, on this thread only): the owner may open up its own directories without
CAP_DAC_OVERRIDE or CAP_FOWNER, which a container may not grant the server. Nothing else writes to the
tree meanwhile: every process of the child's uid is dead before it is cleared.
"""

from __future__ import annotations

import contextlib
import os

from . import confine

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def empty_dir(path: str) -> None:
    """Remove everything below ``path`` (kept, mode 0700); OSError if something could not be removed."""
    with confine.fs_uid(os.lstat(path).st_uid):
        os.chmod(path, 0o700)
        fd = os.open(path, _DIR)
        try:
            _empty(fd)
            if os.listdir(fd):
                raise OSError(f"could not empty {path}")
        finally:
            os.close(fd)


def remove_tree(path: str) -> None:
    """Remove ``path`` and everything below it; its entries are each removed as their own owner (a work
    root holds one directory per child uid). Best effort: what cannot be removed stays."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(path):
            if entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    empty_dir(entry.path)
                    os.rmdir(entry.path)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _empty(top: int) -> None:
    """Empty the directory open as ``top``: down into one subdirectory at a time, back up through "..",
    removing each directory once it is empty."""
    fd = os.dup(top)
    names: list[str] = []  # the path from top down to fd
    pending = [_remove_files(fd)]  # per level: subdirectories still to empty
    try:
        while True:
            if pending[-1]:
                name = pending[-1].pop()
                try:
                    child = os.open(name, _DIR, dir_fd=fd)
                except OSError:
                    continue  # left in place; the caller finds the directory not empty
                os.close(fd)
                fd = child
                names.append(name)
                pending.append(_remove_files(fd))
            elif names:
                pending.pop()
                parent = os.open("..", _DIR, dir_fd=fd)
                os.close(fd)
                fd = parent
                with contextlib.suppress(OSError):
                    os.rmdir(names.pop(), dir_fd=fd)
            else:
                return
    finally:
        os.close(fd)


def _remove_files(fd: int) -> list[str]:
    """Unlink everything but directories in directory ``fd``; return its subdirectories, each opened up
    to its owner (it is a directory, not a symlink, and nothing changes it meanwhile)."""
    subdirs = []
    with os.scandir(fd) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    os.chmod(entry.name, 0o700, dir_fd=fd)
                    subdirs.append(entry.name)
                else:
                    os.unlink(entry.name, dir_fd=fd)
    return subdirs
