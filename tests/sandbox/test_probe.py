"""Probe and fail closed: a missing required layer stops the server unless running insecurely is allowed."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from sandbox_helpers import FRESH_TMP, LANDLOCK_ABI, PROJECT_ROOT

from sandbox import Sandbox, SandboxRefused

# One event loop for the module-scoped servers and the tests that use them.
pytestmark = pytest.mark.asyncio(loop_scope="session")

NO_CAPS = ["setpriv", "--bounding-set", "-all", "--inh-caps", "-all", "--ambient-caps", "-all"]
COMPOSE_CAPS = ["setpriv", "--bounding-set", "-all,+setuid,+setgid,+sys_admin,+kill", "--inh-caps", "-all"]
needs_setpriv = pytest.mark.skipif(
    shutil.which("setpriv") is None, reason="setpriv (util-linux) not installed"
)


def sandbox_cli(
    *args: str, prefix: list[str] | None = None, env: dict[str, str] | None = None, stdin: str = ""
):
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "sandbox", *args],
        cwd=PROJECT_ROOT,
        env={"LANG": "C.UTF-8", **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_probe_reports_every_layer_on_this_host(sandbox: Sandbox) -> None:
    report = await sandbox.probe()
    assert report["safe"] is True and report["missing_required"] == []
    assert set(report["required"]) == {"wall_clock", "output_cap", "rlimits", "uid", "seccomp", "filesystem"}
    held = "mount_namespace and landlock" if LANDLOCK_ABI else "mount_namespace"
    assert report["layers"]["filesystem"]["status"] == f"ok ({held})"
    for name, layer in report["layers"].items():
        if name != "memory_cgroup" and (name != "landlock" or LANDLOCK_ABI):  # depend on the host
            assert layer["active"] is True, (name, layer)


async def test_probe_reads_the_memory_limit_of_the_servers_cgroup() -> None:
    cgroup = _limited_cgroup(f"sandbox-test-{os.getpid()}", 768 * 2**20)
    try:
        enter = f'echo $$ > {cgroup}/cgroup.procs && exec "$@"'
        proc = await asyncio.to_thread(sandbox_cli, "probe", prefix=["sh", "-c", enter, "sh"])
        report = json.loads(proc.stdout)
    finally:
        _remove_cgroup(cgroup)
    assert report["layers"]["memory_cgroup"]["status"] == "ok", report["layers"]["memory_cgroup"]
    assert "server cgroup: memory 768 MiB" in " ".join(report["notes"])
    unlimited = json.loads((await asyncio.to_thread(sandbox_cli, "probe")).stdout)  # the suite's cgroup
    if unlimited["layers"]["memory_cgroup"]["status"] != "ok":
        assert any("mem_limit" in s for s in unlimited["stand_ins"])


def _remove_cgroup(path: str) -> None:
    """rmdir once the last process in it (a child dying with its server) is gone."""
    for _ in range(100):
        try:
            os.rmdir(path)
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            time.sleep(0.05)
    os.rmdir(path)


def _limited_cgroup(name: str, limit: int) -> str:
    """A new memory cgroup below this process's own (v2, else v1) limited to ``limit`` bytes."""
    with open("/proc/self/cgroup") as f:
        entries = [line.split(":", 2) for line in f.read().splitlines()]
    for hierarchy, controllers, path in entries:
        if "memory" in controllers.split(","):
            base, limit_file = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
        elif hierarchy == "0" and os.path.exists(f"/sys/fs/cgroup{path}/memory.max"):
            base, limit_file = "/sys/fs/cgroup", "memory.max"
        else:
            continue
        cgroup = os.path.join(base + path, name)
        try:
            os.mkdir(cgroup)
            with open(os.path.join(cgroup, limit_file), "w") as f:
                f.write(str(limit))
        except OSError as exc:
            pytest.skip(f"cannot make a memory cgroup here: {exc}")
        return cgroup
    pytest.skip("no writable memory cgroup hierarchy")


async def test_missing_required_layer_refuses_to_start(secret_in_environment) -> None:
    sb = Sandbox(pool_size=1, server_args=("--simulate-missing", "seccomp"))
    with pytest.raises(SandboxRefused, match="seccomp"):
        async with sb:
            pass
    assert sb.socket_path is not None
    socket_dir = os.path.dirname(sb.socket_path)
    assert os.path.basename(socket_dir) not in os.listdir(os.path.dirname(socket_dir))  # nothing left


async def test_serve_refusal_is_a_clear_message_and_exit_status() -> None:
    proc = await asyncio.to_thread(
        sandbox_cli, "serve", "--socket", "/tmp/never-bound.sock", "--simulate-missing", "uid"
    )
    assert proc.returncode == 3
    assert "refusing to start" in proc.stderr and "uid" in proc.stderr
    announce = json.loads(proc.stdout.splitlines()[0])
    assert announce["ready"] is False and announce["report"]["missing_required"] == ["uid"]


async def test_allow_insecure_starts_and_reports_the_missing_layer(secret_in_environment) -> None:
    async with Sandbox(pool_size=1, allow_insecure=True, server_args=("--simulate-missing", "seccomp")) as sb:
        report = await sb.probe()
        assert report["safe"] is False and report["serving_insecurely"] is True
        assert report["missing_required"] == ["seccomp"]
        assert any("seccomp" in s for s in report["stand_ins"])
        # The layer really is off: a socket can be created (the network namespace still has no route out).
        result = await sb.run("import socket\nsocket.socket()\nprint('created')")
        assert result.stdout == "created\n"


async def test_allow_insecure_environment_variable() -> None:
    proc = await asyncio.to_thread(sandbox_cli, "probe", "--simulate-missing", "network_namespace")
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["safe"] is True  # optional layer: reported, not fatal
    assert any("network_mode: none" in s for s in report["stand_ins"])
    serve = subprocess.Popen(  # noqa: ASYNC220 - a separate server process, read once below
        [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            "--socket",
            "/tmp/sbx-insecure-env.sock",
            "--simulate-missing",
            "uid",
        ],
        cwd=PROJECT_ROOT,
        env={"LANG": "C.UTF-8", "SANDBOX_ALLOW_INSECURE": "1"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        announce = json.loads(await asyncio.to_thread(serve.stdout.readline))
        assert announce["ready"] is True and announce["report"]["serving_insecurely"] is True
    finally:
        serve.terminate()
        await asyncio.to_thread(serve.wait, 10)


@needs_setpriv
async def test_without_capabilities_the_probe_fails_closed() -> None:
    # Root without capabilities, as in a container started without cap_add: no uid switch, no namespaces.
    proc = await asyncio.to_thread(sandbox_cli, "probe", prefix=NO_CAPS)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["safe"] is False
    # No mounts without capabilities: the filesystem is confined by Landlock alone, if the kernel has it.
    assert report["missing_required"] == ["uid"] + ([] if LANDLOCK_ABI else ["filesystem"])
    assert "CAP_SETUID" in report["layers"]["uid"]["status"]
    assert report["layers"]["seccomp"]["active"] is True  # seccomp needs no privilege (no_new_privs)
    assert not report["layers"]["network_namespace"]["active"]
    serve = await asyncio.to_thread(
        sandbox_cli, "serve", "--socket", "/tmp/never-bound-2.sock", prefix=NO_CAPS
    )
    assert serve.returncode == 3 and "SETUID, SETGID, SYS_ADMIN and KILL" in serve.stderr


@needs_setpriv
async def test_with_compose_capabilities_all_layers_hold() -> None:
    proc = await asyncio.to_thread(sandbox_cli, "probe", prefix=COMPOSE_CAPS)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["safe"] is True
    layers = {name: layer for name, layer in report["layers"].items() if name != "memory_cgroup"}
    assert all(layer["active"] for layer in layers.values()), layers
    run = sandbox_cli(
        "run", "-", prefix=COMPOSE_CAPS, stdin="import os\nprint(os.getuid(), os.listdir('/tmp'))"
    )
    result = json.loads(run.stdout)
    uid, listing = result["stdout"].split(" ", 1)
    assert result["status"] == "ok" and int(uid) >= 61000 and listing == f"{FRESH_TMP}\n"
