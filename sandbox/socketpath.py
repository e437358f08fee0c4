"""Checking the server's socket path before the slow start-up, so a bad one fails in one line."""

from __future__ import annotations

import os
import socket
import stat

# sun_path holds 108 bytes, the terminating NUL included.
MAX_SOCKET_PATH = 107


def socket_path_problem(path: str) -> str:
    """Why the server cannot listen on ``path``, or "" if it can try. A path that exists must be a
    stale socket: the server replaces it, never a file, a directory or a live server's socket."""
    if not path:
        return "the path is empty"
    if "\0" in path:
        return "the path holds a NUL byte"
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH:
        return f"the path is {size} bytes long; a Unix socket path holds at most {MAX_SOCKET_PATH}"
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return _parent_problem(os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        return exc.strerror or str(exc)
    if stat.S_ISDIR(mode):
        return "it is an existing directory"
    if not stat.S_ISSOCK(mode):
        return "it is an existing file, not a socket (only a stale socket is replaced)"
    if _listening(path):
        return "another server is listening on it"
    return ""


def _parent_problem(parent: str) -> str:
    """Why no socket can be made in ``parent`` (made with its missing ancestors if need be)."""
    existing = parent
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"the directory {existing} is not writable"
    return ""


def _listening(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except TimeoutError:
        return True  # a full backlog: someone listens
    except OSError:
        return False
    finally:
        probe.close()
    return True
