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
    parent = os.open(os.path.dirname(path), _DIR)
    try:
        _empty_at(parent, os.path.basename(path))
    finally:
        os.close(parent)


def remove_tree(path: str) -> None:
    """Remove ``path`` and everything below it, if this user made it: it may sit in a shared /tmp, where
    anyone can plant a symlink or a directory of their own under a name we use. Its entries are each
    emptied as their own owner (a work root holds one directory per child uid). Best effort."""
    try:
        top = os.open(path, _DIR)
    except OSError:
        return  # gone, or a symlink: never followed
    try:
        if os.fstat(top).st_uid != os.geteuid():
            return
        for entry in os.scandir(top):
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    _empty_at(top, entry.name)
                    os.rmdir(entry.name, dir_fd=top)
                else:
                    os.unlink(entry.name, dir_fd=top)
    finally:
        os.close(top)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _empty_at(parent: int, name: str) -> None:
    """Empty directory ``name`` of directory fd ``parent`` as its owner (who must be able to search
    ``parent``: a work root is mode 0711); OSError if something stays."""
    owner = os.stat(name, dir_fd=parent, follow_symlinks=False).st_uid
    with confine.fs_uid(owner):
        os.chmod(name, 0o700, dir_fd=parent)
        fd = os.open(name, _DIR, dir_fd=parent)
        try:
            _empty(fd)
            if os.listdir(fd):
                raise OSError(f"could not empty {name}")
        finally:
            os.close(fd)


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
