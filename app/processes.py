"""Child processes on loopback: a free port, starting a command and waiting until it answers, stopping it.

Used by the demo, the tests and the benchmarks to run the replay model server, the service and llama-server
as real processes.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

__all__ = ["NotReady", "free_port", "start", "stop"]


class NotReady(RuntimeError):
    """The process exited, or did not answer its ready URL in time; the message ends with its log."""


def free_port() -> int:
    """A port the kernel just handed out (bind port 0), released for a child process to take."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(
    command: list[str],
    ready_url: str,
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> subprocess.Popen[bytes]:
    """Start `command` (output to `log`) and return once `ready_url` answers 200."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise NotReady(f"{command[0]} exited with {proc.returncode}:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(ready_url, timeout=1.0).status_code == 200:
                return proc
        if time.monotonic() > deadline:
            stop(proc)
            raise NotReady(f"{command[0]} not ready within {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-3000:]
    except OSError:
        return ""
