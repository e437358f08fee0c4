"""The directory the server mounts its filesystem view on, and cleaning up after a killed server."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile

MARKER = "SANDBOX-VIEW-MOUNTPOINT"


def remove_stale_view(pid: int) -> None:
    """Remove the view mount point left under the temp dir by server ``pid``, once it is dead."""
    tag = f"sandbox server pid {pid};"
    for entry in glob.glob(os.path.join(tempfile.gettempdir(), "sandbox-root-*", MARKER)):
        try:
            with open(entry) as f:
                owned = tag in f.read()
        except OSError:
            continue
        if owned:
            remove_mountpoint(os.path.dirname(entry))


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
    if os.path.isdir("/mnt") and not os.path.islink("/mnt") and not os.listdir("/mnt"):
        return "/mnt", False
    path = tempfile.mkdtemp(prefix="sandbox-root-")
    with open(os.path.join(path, MARKER), "w") as f:
        f.write(f"mount point of the filesystem view of sandbox server pid {os.getpid()}; do not remove\n")
    return path, True
