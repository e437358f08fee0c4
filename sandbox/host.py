"""One-time server setup: process hygiene, namespaces, the filesystem view, preloading, seccomp.

Produces the ``ChildPlan`` every child applies after fork, and the server-side half of the probe report.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from . import confine, trees, userns
from .cgroup import server_limits
from .child import ChildPlan
from .landlock import FsPolicy, abi_version
from .limits import Limits, MiB
from .paths import PathScrubber
from .probe import Report
from .seccomp import CompiledFilter, build_filter_bpf
from .tempdirs import new_work_root, remove_mountpoint, view_mountpoint
from .warm import preload


@dataclass(frozen=True)
class HostOptions:
    limits: Limits = field(default_factory=Limits)
    simulate_missing: frozenset[str] = frozenset()
    allow_insecure: bool = False
    project_root: str | None = None


@dataclass
class Host:
    plan: ChildPlan
    report: Report
    workroot: str | None
    view_dir: str | None
    view_dir_created: bool = False

    def cleanup(self) -> None:
        if self.view_dir:
            confine.detach(self.view_dir)
            if self.view_dir_created:
                remove_mountpoint(self.view_dir)
        if self.workroot:
            trees.remove_tree(self.workroot)


class _Layers:
    """Records each setup step in the report: ok, its error, or disabled by --simulate-missing."""

    def __init__(self, report: Report, off: frozenset[str]) -> None:
        self.report, self.off = report, off

    def attempt(self, name: str, action: Callable[[], object]) -> bool:
        if name in self.off:
            self.report.set(name, "unavailable: disabled (--simulate-missing)")
            return False
        try:
            action()
        except OSError as exc:
            self.report.set(name, f"unavailable: {exc}")
            return False
        self.report.set(name, "ok")
        return True


def prepare_host(options: HostOptions) -> Host:
    report = Report(allow_insecure=options.allow_insecure)
    off = options.simulate_missing
    layers = _Layers(report, off)
    _process_hygiene(layers)
    can_renice = confine.has_capabilities(confine.CAP_SYS_NICE)  # before a user namespace says yes
    switch_uid, user_namespace = _child_identity(report, off)
    if user_namespace:  # its namespaces are entered already
        view_blocked = "disabled (--simulate-missing)" if "filesystem_view" in off else ""
    else:
        view_blocked = _enter_namespaces(report, off)  # why the view cannot be built, if it cannot
    layers.attempt("uts_namespace", confine.enter_own_hostname)
    view, view_dir, created = _filesystem_view(layers, view_blocked)

    missing = preload()
    if missing:
        report.notes.append(f"modules not preloaded: {', '.join(missing)}")
    workroot = None if view is not None else new_work_root()
    if workroot:
        os.chmod(workroot, 0o711)
    extra = [options.project_root] if options.project_root else []
    if workroot:  # the children's work directories in the host's /tmp, shown by os.getcwd()
        extra.append(workroot)
    seccomp, fs_policy = _seccomp_filter(layers), _landlock_policy(report, off)
    plan = ChildPlan(
        limits=options.limits,
        # Measured last: the image a child starts from, libseccomp included.
        as_bytes=confine.address_space_now() + options.limits.memory_mb * MiB,
        scrubber=PathScrubber.for_this_interpreter(extra),
        view=view,
        seccomp=seccomp,
        fs_policy=fs_policy,
        switch_uid=switch_uid,
        user_namespace=user_namespace,
        background_nice=10 if can_renice else 0,
        disabled=frozenset(off),
    )
    return Host(plan, report, workroot, view_dir, created)


def _child_identity(report: Report, off: frozenset[str]) -> tuple[bool, bool]:
    """How children lose the server's powers: (switch to a uid of their own, shed every capability in
    the server's user namespace). The latter only when the former is impossible (not root)."""
    # Capabilities as the host sees them: inside a user namespace every check would say yes.
    switch_uid = "uid" not in off and confine.has_capabilities(confine.CAP_SETUID, confine.CAP_SETGID)
    user_namespace = not switch_uid and "uid" not in off and _enter_user_namespace(report, off)
    if "uid" not in off and not switch_uid and not user_namespace:
        report.set(
            "uid",
            f"unavailable: running as uid {os.getuid()} without CAP_SETUID and CAP_SETGID, "
            "and no user namespace could be made",
        )
    return switch_uid, user_namespace


def _process_hygiene(layers: _Layers) -> None:
    """Private files, no ptrace or core dumps of the server, orphans reaped here; what bounds it."""
    os.umask(0o077)
    # A child sharing this uid (a user namespace) can point a socket it owns at this process
    # (FIOSETOWN) and have the kernel send SIGIO, whose default action would end the server. The
    # zygote and the children inherit the disposition; seccomp refuses choosing another signal.
    signal.signal(signal.SIGIO, signal.SIG_IGN)
    layers.attempt("server_not_dumpable", lambda: confine.prctl(confine.PR_SET_DUMPABLE, 0))
    with contextlib.suppress(OSError):
        confine.prctl(confine.PR_SET_CHILD_SUBREAPER, 1)
    layers.attempt("wall_clock", lambda: None)
    limits = server_limits()
    layers.report.notes.append(limits.describe())

    def memory_limit() -> None:
        if not limits.memory_bytes:
            raise OSError("no memory limit found")

    layers.attempt("memory_cgroup", memory_limit)
    layers.attempt("output_cap", lambda: os.close(os.memfd_create("probe")))


def _filesystem_view(layers: _Layers, blocked: str) -> tuple[confine.RootView | None, str | None, bool]:
    """Build the allow-list view unless ``blocked`` says why not: (view, its mount point, whether
    that directory was made here)."""
    report = layers.report
    view_dir, created = view_mountpoint() if not blocked else (None, False)
    view: confine.RootView | None = None

    def build_view() -> None:
        nonlocal view
        view = confine.build_root_view(view_dir)

    if view_dir is None:
        report.set("filesystem_view", f"unavailable: {blocked}")
    elif not layers.attempt("filesystem_view", build_view):
        confine.detach(view_dir)
        if created:
            remove_mountpoint(view_dir)
        view_dir = None
    if view is None:
        report.set("proc_hidepid", "unavailable: no filesystem view")
    else:
        report.set("proc_hidepid", f"unavailable: {view.proc_exposed}" if view.proc_exposed else "ok")
    return view, view_dir, created


def _seccomp_filter(layers: _Layers) -> CompiledFilter | None:
    compiled: CompiledFilter | None = None

    def compile_filter() -> None:
        nonlocal compiled
        compiled = CompiledFilter(build_filter_bpf())

    return compiled if layers.attempt("seccomp", compile_filter) else None


def _landlock_policy(report: Report, off: frozenset[str]) -> FsPolicy | None:
    """What children may read under Landlock: the same directories and files the view binds."""
    if "landlock" in off:
        report.set("landlock", "unavailable: disabled (--simulate-missing)")
        return None
    try:
        abi = abi_version()
    except OSError as exc:
        report.set("landlock", f"unavailable: {exc}")
        return None
    report.set("landlock", "ok")
    report.notes.append(f"Landlock ABI {abi}")
    paths = [*confine.SYSTEM_DIRS, *confine.python_dirs(), *confine.SYSTEM_FILES]
    return FsPolicy(read_paths=tuple(dict.fromkeys(paths)))


def _enter_user_namespace(report: Report, off: frozenset[str]) -> bool:
    """Without CAP_SETUID: a user namespace of the server's own provides the namespaces and mounts, and
    children shed their capabilities instead of switching uid."""
    want_net = "network_namespace" not in off
    reason = userns.unavailable_reason(want_net)
    if reason:
        report.notes.append(f"no user namespace: {reason}")
        return False
    userns.enter_user_namespace(want_net)  # worked in a trial child; a failure now is fatal
    report.set("network_namespace", "ok" if want_net else "unavailable: disabled (--simulate-missing)")
    report.notes.append(
        f"not root: children share uid {os.getuid()} in the server's user namespace and hold no capabilities"
    )
    return True


def _enter_namespaces(report: Report, off: frozenset[str]) -> str:
    """Empty network and IPC namespaces if possible, then a private mount namespace for the view.
    Returns why the view cannot be built ("" if it can)."""
    if "network_namespace" in off:
        report.set("network_namespace", "unavailable: disabled (--simulate-missing)")
    else:
        try:
            confine.enter_empty_network()
            report.set("network_namespace", "ok")
        except OSError as exc:
            report.set("network_namespace", f"unavailable: {exc}")
    if "filesystem_view" in off:
        return "disabled (--simulate-missing)"
    try:
        confine.enter_private_mount_namespace()
    except OSError as exc:
        return f"no private mount namespace for the server: {exc}"
    return ""
