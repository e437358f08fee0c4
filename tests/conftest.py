"""Shared fixtures: real processes on free loopback ports (replay model server, the service), torn down after.

`start_replay(...)` and `start_service(...)` are factories so a test module can start its own instance with
special settings; `replay_url` / `service_url` are the shared session-wide instances over tests/data.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_TRAJECTORIES = DATA / "tir_trajectories.jsonl"


def free_port() -> int:
    """A port the kernel just handed out (bind port 0), released for the child process to take."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    name: str
    url: str
    popen: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


def start_process(name: str, args: list[str], ready_url: str, base_url: str, env: dict[str, str]) -> Proc:
    """Start `python <args>` and wait until `ready_url` answers 200 (or fail with its log)."""
    log = Path(tempfile.mkstemp(prefix=f"tirsolve-{name}-", suffix=".log")[1])
    # Our settings only: a developer's TIRSOLVE_* variables must not leak into the processes under test.
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TIRSOLVE_")} | env
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT
        )
    proc = Proc(name, base_url, popen, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{name} exited with {popen.returncode}:\n{proc.log_text()}")
        try:
            if httpx.get(ready_url, timeout=1.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"{name} not ready within 60 s:\n{proc.log_text()}")


StartReplay = Callable[..., Proc]
StartService = Callable[..., Proc]


@pytest.fixture(scope="session")
def start_replay() -> Iterator[StartReplay]:
    procs: list[Proc] = []

    def start(*traces: Path, extra: list[str] | None = None) -> Proc:
        port = free_port()
        args = ["-m", "app.cli", "replay-llm", "--port", str(port)]
        for t in traces or (TEST_TRAJECTORIES,):
            args += ["--traces", str(t)]
        base = f"http://127.0.0.1:{port}"
        proc = start_process("replay", args + (extra or []), f"{base}/v1/models", f"{base}/v1", {})
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        p.stop()


@pytest.fixture(scope="session")
def sandbox_socket() -> Iterator[str]:
    """One sandbox server shared by the services under test (each would otherwise start its own)."""
    sock_dir = tempfile.mkdtemp(prefix="tirsolve-sandbox-")
    socket_path = os.path.join(sock_dir, "sandbox.sock")
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--socket", socket_path, "--timeout", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    announce = server.stdout.readline()  # the server prints one JSON line once it is ready
    if not json.loads(announce or b"{}").get("ready"):
        server.kill()
        raise RuntimeError(f"sandbox server did not start: {announce!r}")
    yield socket_path
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="session")
def start_service(sandbox_socket: str) -> Iterator[StartService]:
    procs: list[Proc] = []

    def start(model_url: str, own_sandbox: bool = False, **settings: object) -> Proc:
        """A service process; it shares the session's sandbox server unless `own_sandbox`."""
        port = free_port()
        env = {
            "TIRSOLVE_MODEL_BASE_URL": model_url,
            "TIRSOLVE_MODEL_NAME": "replay",
            "TIRSOLVE_SANDBOX_TIMEOUT_S": "2",
            "TIRSOLVE_REQUEST_DEADLINE_S": "30",
        }
        if not own_sandbox:
            env["TIRSOLVE_SANDBOX_SOCKET"] = sandbox_socket
        env.update({f"TIRSOLVE_{k.upper()}": str(v) for k, v in settings.items()})
        base = f"http://127.0.0.1:{port}"
        proc = start_process(
            "service",
            ["-m", "app.cli", "serve", "--port", str(port), "--log-level", "warning"],
            f"{base}/healthz",
            base,
            env,
        )
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        p.stop()


@pytest.fixture(scope="session")
def replay(start_replay: StartReplay) -> Proc:
    """The shared replay server over tests/data, refusing prompts beyond 4,096 tokens like vLLM."""
    return start_replay(extra=["--context-length", "4096"])


@pytest.fixture(scope="session")
def service(start_service: StartService, replay: Proc) -> Proc:
    """The shared service, pointed at the shared replay server."""
    return start_service(replay.url)


@pytest.fixture
def client(service: Proc) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=60) as c:
        yield c
