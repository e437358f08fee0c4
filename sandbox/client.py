"""The asyncio client: ``Sandbox`` (one-shot runs) and ``Session`` (state kept across blocks).

With no socket path the client starts its own server as a child process (empty environment, no
inherited fds) and restarts it if it dies; with a path it connects to an existing server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import shutil
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import ProtocolError, RequestRejected, SandboxBusy, SandboxRefused, SandboxUnavailable
from .limits import Limits
from .protocol import read_frame, write_frame
from .result import RunResult
from .tempdirs import new_socket_dir

_CONNECT_ERRORS = (ConnectionRefusedError, FileNotFoundError, ConnectionResetError, BrokenPipeError)
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def insecure_from_env() -> bool:
    return os.environ.get("SANDBOX_ALLOW_INSECURE", "").strip().lower() in ("1", "true", "yes")


class Sandbox:
    """Runs untrusted Python in a sandbox server.

    ``max_inflight`` requests run at once; up to ``max_queue`` more wait, beyond that ``run`` raises
    ``SandboxBusy``. Limit keyword arguments (``timeout``, ``memory_mb``, ``cpu_seconds``, ... see
    ``Limits``) configure a server this client starts; ``timeout`` is also the default per run.
    """

    def __init__(
        self,
        socket_path: str | None = None,
        *,
        pool_size: int | None = None,
        max_inflight: int | None = None,
        max_queue: int = 256,
        allow_insecure: bool | None = None,
        start_timeout: float = 60.0,
        server_args: tuple[str, ...] = (),
        **limits: Any,
    ) -> None:
        self.limits = Limits.from_kwargs(**limits)
        self.socket_path = socket_path
        self.owns_server = socket_path is None
        self.pool_size = pool_size
        self.max_queue = max_queue
        self.allow_insecure = insecure_from_env() if allow_insecure is None else allow_insecure
        self.start_timeout = start_timeout
        self.server_args = tuple(server_args)
        self.report: dict[str, Any] | None = None
        self.restarts = 0
        self._max_inflight = max_inflight or max(2, 2 * (os.cpu_count() or 1))
        self._slots = asyncio.Semaphore(self._max_inflight)
        self._idle: list[_Connection] = []  # connections to the server kept for the next request
        self._waiting = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._tmpdir: str | None = None
        self._restart_lock = asyncio.Lock()
        self._closed = False  # after close(), a run fails instead of starting a server nobody stops

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def server_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        self._closed = False
        try:
            if self.owns_server:
                await self._start_server()
            else:
                await self.ping()
        except BaseException:
            await self.close()  # a refused or failed start leaves no process and no socket directory
            raise

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop()[1].close()
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    async def _start_server(self) -> None:
        self._tmpdir = self._tmpdir or new_socket_dir()
        self.socket_path = os.path.join(self._tmpdir, "sandbox.sock")
        args = [sys.executable, "-m", "sandbox", "serve", "--socket", self.socket_path]
        args += ["--parent-pid", str(os.getpid()), *self.limits.to_cli_args(), *self.server_args]
        if self.pool_size:
            args += ["--pool-size", str(self.pool_size)]
        if self.allow_insecure:
            args.append("--allow-insecure")
        # An empty environment: the server and its children must hold no secrets.
        self._proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            env={"LANG": "C.UTF-8"},
            cwd=_PACKAGE_PARENT,
            close_fds=True,
        )
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), self.start_timeout)
        except TimeoutError:
            self._proc.kill()
            raise SandboxUnavailable(
                f"sandbox server did not start within {self.start_timeout:g} s"
            ) from None
        try:
            announce = json.loads(line)
        except json.JSONDecodeError:
            await self._proc.wait()
            raise SandboxUnavailable(
                f"sandbox server exited with status {self._proc.returncode} before it was ready"
            ) from None
        self.report = announce.get("report")
        if not announce.get("ready"):
            await self._proc.wait()
            raise SandboxRefused(announce.get("error", "sandbox server refused to start"))

    async def _ensure_server(self) -> None:
        """Restart a server this client started if it has died."""
        if self._closed:
            raise SandboxUnavailable("this Sandbox is closed; start() it again to run code")
        if not self.owns_server:
            return
        async with self._restart_lock:
            if self._closed:  # closed while this task waited for the lock
                raise SandboxUnavailable("this Sandbox is closed; start() it again to run code")
            if self._proc is None or self._proc.returncode is not None:
                if self._proc is not None:
                    self.restarts += 1  # the new server removes what the dead one left in /tmp
                await self._start_server()
                if self._closed:  # close() ran while it started: stop it too
                    await self.close()
                    raise SandboxUnavailable("this Sandbox is closed; start() it again to run code")

    def _server_dead(self) -> bool:
        return self.owns_server and (self._proc is None or self._proc.returncode is not None)

    async def _connect(self) -> _Connection:
        await self._ensure_server()
        assert self.socket_path is not None
        try:
            return await asyncio.open_unix_connection(self.socket_path, limit=2**24)
        except _CONNECT_ERRORS as exc:
            if self.owns_server:
                await self._notice_exit()
                if self._server_dead():  # restart once
                    await self._ensure_server()
                    return await asyncio.open_unix_connection(self.socket_path, limit=2**24)
            raise SandboxUnavailable(
                f"cannot connect to the sandbox server at {self.socket_path}: {exc}"
            ) from exc

    async def _notice_exit(self, within: float = 2.0) -> None:
        """A refused connect means the server is gone or going; wait (bounded) until its exit has been
        reaped, which on a loaded host can take far longer than the exit itself."""
        if self._proc is None or self._proc.returncode is not None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._proc.wait(), within)

    async def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        """One exchange, on a connection kept from an earlier request when there is one: a Unix
        connect and the server's accept cost more than a small run's own round trip. Never resent:
        a run that was under way when its server died fails, as on a new connection."""
        conn = self._idle_connection() or await self._connect()
        return await self._exchange_and_keep(conn, message)

    async def _exchange_and_keep(self, conn: _Connection, message: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = await _exchange(*conn, message)
        except (RequestRejected, SandboxBusy):
            self._keep(conn)  # a whole reply was read: the connection is still in step
            raise
        except BaseException:
            conn[1].close()  # failed or cancelled mid-exchange: a late reply would confuse the next one
            raise
        self._keep(conn)
        return reply

    def _idle_connection(self) -> _Connection | None:
        """A kept connection the server has not closed (a server that died closed them all)."""
        while self._idle:
            reader, writer = self._idle.pop()
            if not (reader.at_eof() or writer.is_closing() or _readable(writer)):
                return reader, writer
            writer.close()
        return None

    def _keep(self, conn: _Connection) -> None:
        if len(self._idle) < self._max_inflight and not self._server_dead() and not self._closed:
            self._idle.append(conn)
        else:
            conn[1].close()

    async def _admit(self) -> None:
        if self._slots.locked() and self._waiting >= self.max_queue:
            waiting = f"{self._waiting} requests waiting, max_queue={self.max_queue}"
            raise SandboxBusy(f"sandbox queue is full ({waiting}); retry later")
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1

    async def run(self, code: str, timeout: float | None = None) -> RunResult:  # noqa: ASYNC109 - the contract
        """Run ``code`` in a fresh confined child and return what happened."""
        await self._admit()
        try:
            reply = await self._request(
                {"op": "run", "code": code, "timeout": self.limits.timeout if timeout is None else timeout}
            )
        finally:
            self._slots.release()
        return RunResult.from_dict(reply["result"])

    async def ping(self) -> dict[str, Any]:
        return await self._request({"op": "ping"})

    async def probe(self) -> dict[str, Any]:
        """The server's layer report (JSON-able), for readiness checks."""
        return (await self._request({"op": "probe"}))["report"]

    def session(self, idle_timeout: float | None = None, total_timeout: float | None = None) -> Session:
        return Session(self, idle_timeout, total_timeout)


class Session:
    """A confined child kept alive across blocks (like a notebook kernel).

    Once its child is gone (a block timed out or crashed, a deadline passed, the server died) every
    later ``run`` returns status ``killed`` with a ``SessionDead`` error instead of raising.
    """

    def __init__(self, sandbox: Sandbox, idle_timeout: float | None, total_timeout: float | None) -> None:
        self._sandbox = sandbox
        self._params = {"idle_timeout": idle_timeout, "total_timeout": total_timeout}
        self._conn: _Connection | None = None
        self._lock = asyncio.Lock()  # one block at a time: replies must match the blocks they answer
        self.dead_reason = ""

    @property
    def alive(self) -> bool:
        return self._conn is not None and not self.dead_reason

    async def __aenter__(self) -> Session:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        self._conn = await self._sandbox._connect()
        try:
            await _exchange(*self._conn, {"op": "session_open", **self._params})
        except BaseException:
            await self.close()
            raise

    async def run(self, code: str, timeout: float | None = None) -> RunResult:  # noqa: ASYNC109
        """Run one block; blocks sent from several tasks at once run one after the other."""
        async with self._lock:
            return await self._run(code, timeout)

    async def _run(self, code: str, timeout: float | None) -> RunResult:  # noqa: ASYNC109
        if self._conn is None:
            raise SandboxUnavailable("session is not open: use 'async with sandbox.session() as s'")
        if self.dead_reason:
            return RunResult("killed", error=f"SessionDead: {self.dead_reason}; open a new session")
        sb = self._sandbox
        await sb._admit()
        try:
            message = {
                "op": "session_run",
                "code": code,
                "timeout": sb.limits.timeout if timeout is None else timeout,
            }
            reply = await _exchange(*self._conn, message)
        except RequestRejected:
            raise  # a whole reply was read: the session is still in step
        except SandboxUnavailable as exc:
            self.dead_reason = f"the sandbox server went away ({exc})"
            return RunResult("killed", error=f"SessionDead: {self.dead_reason}")
        except BaseException:
            # Cancelled (or failed) mid-exchange: the block's late reply would be read as the next
            # block's. Closing the connection ends the session's process on the server.
            self.dead_reason = "a block was abandoned before its result arrived"
            self._conn[1].close()
            raise
        finally:
            sb._slots.release()
        result = RunResult.from_dict(reply["result"])
        if result.status in ("timeout", "killed") and "SessionDead" not in result.error:
            self.dead_reason = f"its process ended ({result.status})"
        return result

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(_exchange(*conn, {"op": "session_close"}), 5)
            conn[1].close()


def _readable(writer: asyncio.StreamWriter) -> bool:
    """Whether an idle connection has something to read: the server sends nothing unasked, so
    that is its EOF, possibly not yet seen by the event loop."""
    sock = writer.get_extra_info("socket")
    return sock is None or bool(select.select([sock.fileno()], [], [], 0)[0])


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: dict[str, Any]
) -> dict[str, Any]:
    try:
        await write_frame(writer, message)
        reply = await read_frame(reader)
    except (asyncio.IncompleteReadError, *_CONNECT_ERRORS) as exc:
        raise SandboxUnavailable(
            f"the sandbox server closed the connection during {message.get('op')!r}"
        ) from exc
    if reply.get("ok"):
        return reply
    error = reply.get("error") or {}
    if error.get("kind") == "bad_request":
        raise RequestRejected(error.get("message", "request rejected"))
    if error.get("kind") == "busy":
        raise SandboxBusy(f"sandbox server is busy: {error.get('message', 'no child free')}")
    if error.get("kind") in ("unavailable", "internal"):
        raise SandboxUnavailable(error.get("message", "sandbox unavailable"))
    raise ProtocolError(f"unexpected reply from the sandbox server: {reply!r}")
