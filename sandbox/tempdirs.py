"""Directories a server makes under the temp dir (its view's mount point, its children's work root), and
cleaning up those of a server that was killed before it could."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import tempfile

MARKER = "SANDBOX-VIEW-MOUNTPOINT"
_OWNER = re.compile(r"sandbox server pid (\d+);")


def remove_stale_view(pid: int) -> None:
    """Remove the view mount point left under the temp dir by server ``pid``, once it is dead."""
    for entry, owner in _markers():
        if owner == pid:
            remove_mountpoint(os.path.dirname(entry))


def remove_stale_views() -> None:
    """Remove the view mount points of every server that is gone: one killed (SIGKILL, OOM) had no
    chance to remove its own, and nothing else would. A live owner's, or another user's, stays."""
    for entry, owner in _markers():
        if not _alive(owner):
            remove_mountpoint(os.path.dirname(entry))


def _markers() -> list[tuple[str, int]]:
    found = []
    for entry in glob.glob(os.path.join(tempfile.gettempdir(), "sandbox-root-*", MARKER)):
        try:
            with open(entry) as f:
                match = _OWNER.search(f.read())
        except OSError:
            continue
        if match:
            found.append((entry, int(match.group(1))))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return True


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
    remove_stale_views()
    if os.path.isdir("/mnt") and not os.path.islink("/mnt") and not os.listdir("/mnt"):
        return "/mnt", False
    path = tempfile.mkdtemp(prefix="sandbox-root-")
    with open(os.path.join(path, MARKER), "w") as f:
        f.write(f"mount point of the filesystem view of sandbox server pid {os.getpid()}; do not remove\n")
    return path, True


def new_work_root() -> str:
    """A directory for the children's work directories when there is no view (made by the server)."""
    return _new_owned_dir("sandbox-work")


def new_socket_dir() -> str:
    """A private directory for the socket of a server the client starts (made by the client)."""
    return _new_owned_dir("sandbox-sock")


def _new_owned_dir(kind: str) -> str:
    """A fresh ``<kind>-<pid>-*`` directory (mode 0700), after removing those whose process is gone: the
    name carries the owner's pid so that the next one can clean up after an owner that was killed."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{kind}-*-*")):
        owner = os.path.basename(path).removeprefix(f"{kind}-").split("-")[0]
        if owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(path, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-")
