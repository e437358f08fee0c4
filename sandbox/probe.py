"""Which confinement layers hold on this host, and whether that is enough to serve.

The server fills a ``Report`` from its own setup (namespaces, filesystem view, seccomp compile) and
from the first child it confines (mount namespace, rlimits, uid, seccomp as actually applied).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The minimum safe set: without any of these the server refuses to start unless allowed insecure.
# "filesystem" holds when either layer that confines a child's files does (see ``FILESYSTEM``).
REQUIRED: tuple[str, ...] = ("wall_clock", "output_cap", "rlimits", "uid", "seccomp", "filesystem")
# Either keeps a run from reading the host's files or leaving files behind for the next run.
FILESYSTEM: tuple[str, ...] = ("mount_namespace", "landlock")

LAYERS: dict[str, str] = {
    "wall_clock": "deadline enforced by the server, which kills the child from outside",
    "output_cap": "stdout/stderr in capped memfds (RLIMIT_FSIZE), returned head and tail",
    "rlimits": "address space, CPU seconds, file size, open files, processes, no core dumps",
    "uid": "a dedicated unprivileged uid per child, killed and reaped by uid after use (not root: the "
    "server's own user namespace, children without any capability)",
    "seccomp": "an allowlist of the calls a calculator needs: no sockets, exec, fork, ptrace, mounts, "
    "namespaces, signals to others, System V and POSIX IPC, memfds or other kernel surfaces",
    "network_namespace": "an empty network namespace (no interfaces but a down loopback) and an IPC "
    "namespace of the server's own",
    "uts_namespace": "a host name of the server's own ('sandbox'): the host's or container's is not shown",
    "filesystem_view": "an allow-list view: read-only system and Python directories only",
    "mount_namespace": "a private mount namespace per child with its own small tmpfs as working directory",
    "landlock": "Landlock: reads only in system and Python directories and the child's own /proc entry, "
    "writes only in its work directory; no TCP, no signals or abstract sockets outside the child",
    "proc_hidepid": "a /proc that shows only the child's own processes",
    "server_not_dumpable": "the server is not dumpable and not ptrace-able by children",
    "pristine_zygote": "children are forked from a zygote that never held request data",
    "filesystem": "a child reads no host files and leaves none behind: mount_namespace or landlock",
    "memory_cgroup": "the server's cgroup limits the memory of all children together (their tmpfs, "
    "output buffers and kernel memory included)",
}

STAND_INS: dict[str, str] = {
    "network_namespace": "network namespace unavailable: relying on seccomp (no socket creation) and the "
    "container's network_mode: none",
    "uts_namespace": "host name visible to children (no UTS namespace): it names the host or container",
    "filesystem_view": "filesystem view unavailable: relying on Landlock (reads limited to system and "
    "Python directories) if it holds, else on file permissions and the image holding no secrets",
    "mount_namespace": "per-child mount namespace unavailable: each child writes only a per-uid working "
    "directory that the server empties after each use (Landlock keeps it out of /tmp, /dev/shm, /var/tmp)",
    "landlock": "Landlock unavailable (kernel older than 5.13 or the LSM is off): relying on the filesystem "
    "view and the per-child mount namespace",
    "proc_hidepid": "hidepid /proc unavailable: relying on the uid switch (other processes' environ and "
    "memory are unreadable across uids)",
    "server_not_dumpable": "relying on the uid switch and seccomp (no ptrace) to protect the server",
    "uid": "no uid switch: children run as the server's uid (needs CAP_SETUID and CAP_SETGID)",
    "seccomp": "no seccomp filter: children can create sockets and processes",
    "rlimits": "no rlimits: memory, CPU and files are unbounded inside the child",
    "memory_cgroup": "no memory limit on the server's cgroup: each child's tmpfs and output buffers (up "
    "to ~32 MiB) sit outside its rlimits; run the server in a container with mem_limit, or under "
    "systemd-run -p MemoryMax=... -p TasksMax=...",
}


@dataclass
class Report:
    layers: dict[str, str] = field(default_factory=dict)
    allow_insecure: bool = False
    notes: list[str] = field(default_factory=list)

    def set(self, name: str, status: str) -> None:
        self.layers[name] = status

    def holds(self, name: str) -> bool:
        if name == "filesystem":
            return any(self.holds(layer) for layer in FILESYSTEM)
        return self.layers.get(name) == "ok"

    def status(self, name: str) -> str:
        if name == "filesystem":
            held = [layer for layer in FILESYSTEM if self.holds(layer)]
            return (
                f"ok ({' and '.join(held)})" if held else "unavailable: neither mount_namespace nor landlock"
            )
        return self.layers.get(name, "not probed")

    @property
    def missing_required(self) -> list[str]:
        return [name for name in REQUIRED if not self.holds(name)]

    @property
    def safe(self) -> bool:
        return not self.missing_required

    @property
    def may_serve(self) -> bool:
        return self.safe or self.allow_insecure

    def refusal(self) -> str:
        details = "; ".join(f"{n}: {self.status(n)}" for n in self.missing_required)
        return (
            f"refusing to start: required sandbox layer(s) missing ({details}). "
            "Run as root or grant the capabilities SETUID, SETGID, SYS_ADMIN and KILL (or, not root, allow "
            "unprivileged user namespaces), or pass "
            "--allow-insecure / SANDBOX_ALLOW_INSECURE=1 to run without them."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "safe": self.safe,
            "serving_insecurely": not self.safe and self.allow_insecure,
            "layers": {
                name: {
                    "active": self.holds(name),
                    "status": self.status(name),
                    "what": what,
                }
                for name, what in LAYERS.items()
            },
            "required": list(REQUIRED),
            "missing_required": self.missing_required,
            "stand_ins": [STAND_INS[n] for n in LAYERS if n in STAND_INS and not self.holds(n)],
            "notes": self.notes,
        }
