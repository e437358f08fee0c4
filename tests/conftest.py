"""Shared fixtures: real processes on free loopback ports (replay model server, the service), torn down after.

`start_replay(...)` and `start_service(...)` are factories so a test module can start its own instance with
special settings; `replay_url` / `service_url` are the shared session-wide instances over tests/data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app import processes
from app.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_TRAJECTORIES = DATA / "tir_trajectories.jsonl"


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
        processes.stop(self.popen)


def start_process(name: str, args: list[str], ready_url: str, base_url: str, env: dict[str, str]) -> Proc:
    """Start `python <args>` and wait until `ready_url` answers 200 (or fail with its log)."""
    log = Path(tempfile.mkstemp(prefix=f"tirsolve-{name}-", suffix=".log")[1])
    # Our settings only: a developer's TIRSOLVE_* variables must not leak into the processes under test.
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TIRSOLVE_")} | env
    popen = processes.start([sys.executable, *args], ready_url, log=log, env=full_env, cwd=ROOT)
    return Proc(name, base_url, popen, log)


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
    try:
        yield socket_path
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(sock_dir, ignore_errors=True)  # each test session left one behind in /tmp


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
