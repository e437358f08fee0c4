"""A fast, locked-down executor for model-written Python, with sympy preloaded.

A server imports sympy, numpy and mpmath once, warms sympy's lazy paths, and has confined children,
forked from a pristine copy of itself, execute code blocks. Layers, from the outside in:

* **Server hygiene**: started with an empty environment and no inherited fds, so it holds no secrets
  (children can read the memory they are forked from); not dumpable.
* **A pristine zygote**: right after warm-up, before any request, the server forks a zygote that
  forks every child. The serving process sees request data (code, outputs) that freed memory keeps;
  the zygote never does, so no child can find another request's data in its own memory. The zygote
  reaps its children (it is a subreaper) and dies with the server; children die with the zygote.
* **Namespaces (set up once in the server)**: an empty network namespace, and a private mount namespace
  holding an allow-list view of the filesystem: read-only binds of /usr, /lib* and the interpreter's
  stdlib and site-packages, a few device nodes, and a /proc mounted with hidepid=2. Home directories,
  /root, /etc, /var, the project and its data do not exist in the view.
* **Per child, before any code arrives**: its own session and process group; its own mount namespace
  with a small private tmpfs as working directory, pivoted into the view; rlimits (address space, CPU
  seconds, file size, open files, processes, no core dumps); a dedicated unprivileged uid (default
  range 61000-61127; each server locks the first free block of 128 uids from there, so servers on
  one host never share uids); Landlock rules (read only system and Python directories, write only
  the work directory; they stand in for the view where mounts are refused); a seccomp allowlist
  (compiled once, loaded with prctl) of the calls a calculator needs, so sockets, exec, process
  creation (threads stay allowed), ptrace, mounts and namespaces, signals to other processes and
  every other kernel surface fail with EPERM.
* **Per execution**: a wall-clock deadline enforced by the server, which kills the child from outside;
  stdout and stderr captured in capped memfds and returned head and tail around a truncation marker;
  tracebacks with host paths removed. One-shot runs use a fresh child; after each child's last run
  every process of its uid is killed and reaped before the uid is reused, and a server starts by
  killing whatever still runs under its uid range.

The server probes these layers at start and refuses to serve unless the minimum safe set holds
(wall-clock deadline, output cap, rlimits, uid switch, seccomp, and the mount namespace or
Landlock), unless started with ``--allow-insecure`` or ``SANDBOX_ALLOW_INSECURE=1``. A server that
is not root makes a user namespace of its own instead of switching uids; its children shed every
capability.

Usage::

    async with Sandbox() as sb:
        result = await sb.run("print(1 + 1)", timeout=5)
        async with sb.session() as s:
            await s.run("x = 2")
            result = await s.run("print(x)")
"""

from .client import Sandbox, Session
from .errors import (
    ProtocolError,
    RequestRejected,
    SandboxBusy,
    SandboxError,
    SandboxRefused,
    SandboxUnavailable,
)
from .limits import Limits
from .result import STATUSES, RunResult

__all__ = [
    "STATUSES",
    "Limits",
    "ProtocolError",
    "RequestRejected",
    "RunResult",
    "Sandbox",
    "SandboxBusy",
    "SandboxError",
    "SandboxRefused",
    "SandboxUnavailable",
    "Session",
]
