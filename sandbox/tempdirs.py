"""Directories the sandbox makes under the temp dir (a view's mount point, a work root, a client's socket
directory), and cleaning up those whose owner was killed before it could.

Each is named ``<kind>-<owner pid>-*``: whoever makes the next one of a kind first removes those whose
owner is gone (SIGKILL, OOM), which nothing else would. A live owner's, or another user's, stays.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Callable

from . import trees

MARKER = "SANDBOX-VIEW-MOUNTPOINT"


def remove_mountpoint(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(path, MARKER))
        os.rmdir(path)


def view_mountpoint() -> tuple[str, bool]:
    """Where to mount the view inside the server's private mount namespace.

    An empty /mnt is covered only in this namespace, so even a killed server leaves nothing behind.
    Otherwise a fresh directory under the temp dir, holding a marker file: seen from the host the
    directory is then not empty, so a stray ``rmdir`` cannot remove it (removing a mount point from
    another namespace would detach the view; children then fail closed with a lost-layer error).
    """
    _remove_orphans("sandbox-root", remove_mountpoint)  # marker and directory only, never recursively
    if os.path.isdir("/mnt") and not os.path.islink("/mnt") and not os.listdir("/mnt"):
        return "/mnt", False
    path = tempfile.mkdtemp(prefix=f"sandbox-root-{os.getpid()}-")
    with open(os.path.join(path, MARKER), "w") as f:
        f.write(f"mount point of the filesystem view of sandbox server pid {os.getpid()}; do not remove\n")
    return path, True


def new_work_root() -> str:
    """A directory for the children's work directories when there is no view (made by the server).
    A dead server's is removed with ``remove_tree``: code shaped what is in it."""
    return _new_owned_dir("sandbox-work", trees.remove_tree)


def new_socket_dir() -> str:
    """A private directory for the socket of a server the client starts (made by the client)."""
    return _new_owned_dir("sandbox-sock")


def _new_owned_dir(kind: str, remove: Callable[[str], None] | None = None) -> str:
    """A fresh ``<kind>-<pid>-*`` directory (mode 0700), after removing the orphans of that kind."""
    _remove_orphans(kind, remove or (lambda path: shutil.rmtree(path, ignore_errors=True)))
    return tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-")


def _remove_orphans(kind: str, remove: Callable[[str], None]) -> None:
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{kind}-*-*")):
        owner = os.path.basename(path).removeprefix(f"{kind}-").split("-")[0]
        if owner.isdigit() and not _alive(int(owner)):
            remove(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return True
