"""The sandbox server ("zygote"): serves run and session requests on a Unix socket.

Ops (one JSON frame each way): ``ping``, ``probe``, ``run`` {code, timeout}, ``session_open``
{idle_timeout, total_timeout}, ``session_run`` {code, timeout}, ``session_close``. A session belongs to
the connection that opened it and dies with it. A client that closes its connection (or only its
writing side) while a run is in flight abandons it: the run's child is killed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from .confine import set_process_name
from .host import Host, HostOptions, prepare_host
from .limits import Limits, MiB
from .pool import Child, ChildFailed, NoFreeUid, Pool, UidRange
from .protocol import ProtocolError, read_frame, write_frame
from .result import RunResult
from .socketpath import socket_path_problem
from .zygote import ZygoteClient, start_zygote

PROBE_CODE = """
import os, socket
seen = {"uid": os.getuid()}
with open("/proc/self/status") as f:
    seen["caps"] = int([line.split()[1] for line in f if line.startswith("CapEff")][0], 16)
try:
    socket.socket(socket.AF_UNIX)
    seen["socket"] = "allowed"
except PermissionError:
    seen["socket"] = "denied"
print(seen)
"""


class BadRequest(Exception):
    """A request the server will not run; the message names the field or cause."""


@dataclass(frozen=True)
class ServerOptions:
    socket_path: str
    limits: Limits = field(default_factory=Limits)
    pool_size: int = max(2, 2 * (os.cpu_count() or 1))
    uids: UidRange = field(default_factory=UidRange)
    allow_insecure: bool = False
    simulate_missing: frozenset[str] = frozenset()
    parent_pid: int | None = None
    socket_uid: int | None = None  # owner of the socket file, e.g. the API container's uid


class ServerSession:
    """One confined child kept alive across blocks, bounded by idle and total deadlines."""

    def __init__(self, child: Child, idle: float, total: float) -> None:
        self.child, self.idle = child, idle
        self.deadline = time.monotonic() + total
        self.last_used = time.monotonic()
        self.dead_reason = ""
        self.lock = asyncio.Lock()

    def expired(self) -> str:
        if self.lock.locked():
            return ""  # a running block carries its own deadline, capped at the total one
        now = time.monotonic()
        if now >= self.deadline:
            return "session exceeded its total deadline"
        if now - self.last_used >= self.idle:
            return "session was idle too long"
        return ""


class SandboxServer:
    """Serves requests from a pool of confined children; see the module docstring for the ops."""

    def __init__(self, options: ServerOptions, host: Host, zygote: ZygoteClient) -> None:
        self.options, self.host, self.zygote = options, host, zygote
        self.limits = options.limits
        self.pool: Pool | None = None
        self.uids = options.uids
        self._uid_locks: list[int] = []
        self._server: asyncio.AbstractServer | None = None
        self._parent_watch: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self._sessions: set[ServerSession] = set()

    async def start(self) -> bool:
        """Confine a first child to complete the probe; start serving only if the report allows it."""
        loop = asyncio.get_running_loop()
        await self.probe(pool_size=self.options.pool_size)
        if not self.host.report.may_serve:
            return False
        problem = socket_path_problem(self.options.socket_path)
        if problem:
            raise OSError(problem)
        self.pool.refill()
        _make_socket_dir(self.options.socket_path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.options.socket_path)
        self._server = await asyncio.start_unix_server(self._handle, path=self.options.socket_path)
        os.chmod(self.options.socket_path, 0o600)
        if self.options.socket_uid is not None:
            os.chown(self.options.socket_path, self.options.socket_uid, -1)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        if self.options.parent_pid:
            self._parent_watch = loop.create_task(self._watch_parent(self.options.parent_pid))
        return True

    async def probe(self, pool_size: int = 0) -> None:
        """Claim a uid range, then confine one child and check from inside it that the layers hold."""
        self.zygote.attach(asyncio.get_running_loop(), on_death=self._stopping.set)
        self.uids, self._uid_locks = self.options.uids.claim()
        if self.host.plan.switch_uid:
            self.uids.kill_leftovers()
        self.pool = Pool(self.host.plan, pool_size, self.uids, self.zygote, self.host.workroot)
        report = self.host.report
        report.set("pristine_zygote", "ok")
        child = None
        try:
            child = await self.pool.spawn()
            layers = await child.ready
        except ChildFailed as exc:
            for name in ("mount_namespace", "rlimits", "uid", "landlock", "seccomp"):
                report.set(name, f"unavailable: {exc}")
            if child is not None:
                await self.pool.destroy(child)
            return
        for name, status in layers.items():
            if name in report.layers and not report.holds(name):
                continue  # the server already knows this layer is missing; keep its reason
            report.set(name, status)
        result = await child.run(PROBE_CODE, 10.0, 4096, self.limits.file_size_mb * MiB)
        await self.pool.destroy(child)
        seen = _literal(result.stdout)
        if report.holds("uid") and self.host.plan.user_namespace and seen.get("caps") != 0:
            report.set("uid", f"unavailable: child still holds capabilities {seen.get('caps')}")
        elif (
            report.holds("uid")
            and not self.host.plan.user_namespace
            and seen.get("uid") in (None, os.getuid())
        ):
            report.set("uid", f"unavailable: child still runs as uid {seen.get('uid')}")
        if report.holds("seccomp") and seen.get("socket") != "denied":
            report.set("seccomp", "unavailable: filter loaded but a socket could still be created")
        if not seen:
            report.notes.append(f"probe run failed: {result.status} {result.error[-300:]}")
        # Every later child must confine itself at least as well as this one did.
        self.pool.expected_layers = frozenset(name for name in layers if report.holds(name))

    async def serve_until_stopped(self) -> None:
        await self._stopping.wait()
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.options.socket_path)
        if self.pool is not None:
            await self.pool.close()
        self.zygote.close()
        for fd in self._uid_locks:
            os.close(fd)
        self._uid_locks = []

    async def _watch_parent(self, pid: int) -> None:
        while os.getppid() == pid:  # noqa: ASYNC110 - no event tells us the parent died
            await asyncio.sleep(1.0)
        self._stopping.set()

    # --- connections ---

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection()
        incoming = asyncio.ensure_future(read_frame(reader))
        try:
            while True:
                try:
                    frame = await incoming
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except ProtocolError as exc:
                    await write_frame(writer, _error("bad_request", str(exc)))
                    return
                # The next read starts now: its end of file tells a running request that its client left.
                incoming = asyncio.ensure_future(read_frame(reader))
                reply = await _unless_client_leaves(self._answer(frame, conn), incoming)
                if reply is None:
                    return
                await write_frame(writer, reply)
        except ConnectionError:
            return
        except asyncio.CancelledError:
            # Shutdown. Ending as cancelled would make asyncio (3.11) log a traceback per connection
            # from the callback start_unix_server adds to handler tasks; the cleanup below still runs.
            return
        finally:
            incoming.cancel()
            if conn.watchdog is not None:
                conn.watchdog.cancel()
            if conn.session is not None:
                await self._end_session(conn.session, "connection closed")
            writer.close()

    async def _answer(self, frame: dict[str, Any], conn: _Connection) -> dict[str, Any]:
        op = frame.get("op")
        try:
            if op == "session_open":
                if conn.session is not None:
                    raise BadRequest("a session is already open on this connection")
                conn.session = await self._open_session(frame)
                conn.watchdog = asyncio.get_running_loop().create_task(self._watch_session(conn.session))
                return {"ok": True, "session": conn.session.child.uid}
            if op == "session_close":
                if conn.session is not None:
                    await self._end_session(conn.session, "closed by the client")
                return {"ok": True}
            return await self._dispatch(op, frame, conn.session)
        except BadRequest as exc:
            return _error("bad_request", str(exc))
        except ChildFailed as exc:
            return _error("unavailable", str(exc))
        except NoFreeUid as exc:
            return _error("busy", f"{exc}: {self._uid_use()}")
        except Exception as exc:  # a bug must not take the connection down silently
            traceback.print_exc()
            print(f"sandbox server: internal error on op {op!r}: {exc!r}", file=sys.stderr)
            return _error("internal", f"internal sandbox error: {type(exc).__name__}")

    async def _dispatch(
        self, op: Any, frame: dict[str, Any], session: ServerSession | None
    ) -> dict[str, Any]:
        if op == "ping":
            return {
                "ok": True,
                "pong": True,
                "pid": os.getpid(),
                "zygote_pid": self.zygote.pid,
                "pool_size": self.options.pool_size,
                "uids": [self.uids.base, self.uids.base + self.uids.count - 1],
            }
        if op == "probe":
            return {"ok": True, "report": self.host.report.to_dict()}
        if op == "run":
            code, timeout = self._code_and_timeout(frame)
            return {"ok": True, "result": (await self._run_once(code, timeout)).to_dict()}
        if op == "session_run":
            if session is None:
                raise BadRequest("no session is open on this connection: send op 'session_open' first")
            code, timeout = self._code_and_timeout(frame)
            return {"ok": True, "result": (await self._run_in_session(session, code, timeout)).to_dict()}
        raise BadRequest(
            f"unknown op {op!r}; expected ping, probe, run, session_open, session_run, session_close"
        )

    def _code_and_timeout(self, frame: dict[str, Any]) -> tuple[str, float]:
        code = frame.get("code")
        if not isinstance(code, str):
            raise BadRequest("field 'code' must be a string")
        if len(code) > self.limits.max_code_kb * 1024:
            raise BadRequest(f"field 'code' is longer than {self.limits.max_code_kb} KiB")
        timeout = frame.get("timeout")
        if timeout is None:
            return code, self.limits.timeout
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 3600:
            raise BadRequest("field 'timeout' must be a number of seconds in (0, 3600]")
        return code, float(timeout)

    def _uid_use(self) -> str:
        """Who holds this server's uids, for a request that found none free."""
        held = len(self._sessions)
        if held >= self.uids.count:
            who = f"all {self.uids.count} are held by open sessions"
        else:
            who = f"{held} of {self.uids.count} are held by open sessions, the rest by runs"
        return f"{who}; close sessions, or start the server with more uids (--uid-count)"

    async def _run_once(self, code: str, timeout: float) -> RunResult:  # noqa: ASYNC109
        assert self.pool is not None
        child = await self.pool.acquire(wait=timeout)  # a uid free within the run's own deadline
        try:
            with self.pool.running():
                result = await child.run(
                    code,
                    timeout,
                    self._keep_bytes,
                    self.limits.file_size_mb * MiB,
                    cpu_seconds=self.limits.cpu_seconds,
                )
        finally:
            self.pool.release(child)
        return self._without_host_paths(result)

    def _without_host_paths(self, result: RunResult) -> RunResult:
        """Host paths out of everything returned: code prints ``sympy.__file__`` or ``sys.path``, calls
        ``traceback.print_exc()``, or library code warns (the child scrubbed only its traceback)."""
        scrub = self.host.plan.scrubber.scrub
        return dataclasses.replace(
            result, stdout=scrub(result.stdout), stderr=scrub(result.stderr), error=scrub(result.error)
        )

    @property
    def _keep_bytes(self) -> int:
        return self.limits.output_kb * 1024

    # --- sessions ---

    async def _open_session(self, frame: dict[str, Any]) -> ServerSession:
        assert self.pool is not None
        idle = _seconds(frame, "idle_timeout", self.limits.session_idle)
        total = _seconds(frame, "total_timeout", self.limits.session_total)
        child = await self.pool.acquire(wait=self.limits.timeout)
        session = ServerSession(child, idle, total)
        self._sessions.add(session)
        return session

    async def _run_in_session(self, session: ServerSession, code: str, timeout: float) -> RunResult:  # noqa: ASYNC109
        async with session.lock:
            if session.dead_reason:
                return RunResult("killed", error=f"SessionDead: {session.dead_reason}; open a new session")
            remaining = session.deadline - time.monotonic()
            session.child.resume()
            try:
                with self.pool.running():
                    result = await session.child.run(
                        code,
                        max(0.001, min(timeout, remaining)),
                        self._keep_bytes,
                        self.limits.file_size_mb * MiB,
                        keep=True,
                        cpu_seconds=self.limits.cpu_seconds,
                    )
            finally:
                session.child.pause()
            session.last_used = time.monotonic()
            if session.child.exited.done():
                session.dead_reason = f"its process ended ({session.child.dead_reason or result.status})"
            return self._without_host_paths(result)

    async def _watch_session(self, session: ServerSession) -> None:
        while not session.dead_reason:
            await asyncio.sleep(min(1.0, max(0.05, session.deadline - time.monotonic())))
            reason = session.expired()
            if reason:
                await self._end_session(session, reason)

    async def _end_session(self, session: ServerSession, reason: str) -> None:
        self._sessions.discard(session)
        if session.child in (self.pool.live if self.pool else ()):
            session.dead_reason = session.dead_reason or reason
            await self.pool.destroy(session.child)


def _seconds(frame: dict[str, Any], name: str, cap: float) -> float:
    """A positive number of seconds from ``frame``, at most ``cap`` (also its default)."""
    value = frame.get(name)
    if value is None:
        return cap
    # "not > 0" also refuses NaN, which every deadline comparison would treat as never reached.
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise BadRequest(f"field {name!r} must be a positive number of seconds")
    return float(min(value, cap))  # capped first: float() of a 400-digit int overflows


@dataclass
class _Connection:
    """What one client connection holds: at most one session, and the task that expires it."""

    session: ServerSession | None = None
    watchdog: asyncio.Task | None = None


async def _unless_client_leaves(work: Coroutine[Any, Any, dict], incoming: asyncio.Future) -> dict | None:
    """The reply of ``work``, or None if the client hangs up first: the work is then cancelled, which
    kills its child, instead of running on (a busy loop, up to its deadline) for nobody."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task, incoming}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and _hung_up(incoming):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return None
        return await task  # a frame sent before the reply (or a malformed one) waits its turn
    finally:
        task.cancel()


def _hung_up(incoming: asyncio.Future) -> bool:
    if not incoming.done() or incoming.cancelled():
        return False
    return isinstance(incoming.exception(), (asyncio.IncompleteReadError, ConnectionError))


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"kind": kind, "message": message}}


def _literal(text: str) -> dict[str, Any]:
    import ast

    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return {}
    return value if isinstance(value, dict) else {}


def serve(options: ServerOptions) -> int:
    """Set up the host, probe, and serve until SIGTERM; prints one JSON ready line on stdout."""
    set_process_name("sandbox-server")
    problem = socket_path_problem(options.socket_path)
    if problem:  # before the slow warm-up, and in one line
        return _cannot_listen(options.socket_path, problem)
    host = prepare_host(
        HostOptions(options.limits, options.simulate_missing, options.allow_insecure, _project_root())
    )
    zygote = ZygoteClient(*start_zygote(host.plan, host.workroot))  # before any request data exists
    try:
        return asyncio.run(_serve(options, host, zygote))
    finally:
        host.cleanup()


async def _serve(options: ServerOptions, host: Host, zygote: ZygoteClient) -> int:
    server = SandboxServer(options, host, zygote)
    try:
        started = await server.start()
    except OSError as exc:  # the socket path cannot be made or bound
        await server.close()
        return _cannot_listen(options.socket_path, exc.strerror or str(exc))
    report = host.report.to_dict()
    if not started:
        _announce({"ready": False, "error": host.report.refusal(), "report": report})
        print(host.report.refusal(), file=sys.stderr)
        await server.close()
        return 3
    if not _announce({"ready": True, "socket": options.socket_path, "pid": os.getpid(), "report": report}):
        print("sandbox server: the process that started it is gone; stopping", file=sys.stderr)
        await server.close()
        return 1
    await server.serve_until_stopped()
    return 0


def _cannot_listen(socket_path: str, cause: str) -> int:
    message = f"sandbox server: cannot listen on {socket_path!r}: {cause}"
    _announce({"ready": False, "error": message})
    print(message, file=sys.stderr)
    return 2


def _make_socket_dir(socket_path: str) -> None:
    """A missing parent directory is made private to the server's user (the socket itself is 0600)."""
    os.makedirs(os.path.dirname(os.path.abspath(socket_path)), mode=0o700, exist_ok=True)


def _announce(message: dict[str, Any]) -> bool:
    """Write the one JSON line the starting process waits for; False if nobody reads it any more."""
    try:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the process that started us is gone: nobody will connect
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the dead pipe for the interpreter's exit
        return False
    return True


def _project_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def probe(options: ServerOptions) -> dict[str, Any]:
    """Set up the host and confine one child without serving; returns the JSON-able report."""
    host = prepare_host(
        HostOptions(options.limits, options.simulate_missing, options.allow_insecure, _project_root())
    )
    zygote = ZygoteClient(*start_zygote(host.plan, host.workroot))
    try:
        return asyncio.run(_probe(options, host, zygote))
    finally:
        host.cleanup()


async def _probe(options: ServerOptions, host: Host, zygote: ZygoteClient) -> dict[str, Any]:
    server = SandboxServer(options, host, zygote)
    try:
        await server.probe()
    finally:
        await server.close()
    return host.report.to_dict()
