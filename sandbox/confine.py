"""Confinement steps: the server's one-time namespace setup and each child's per-fork steps.

Expensive work happens once: the server builds an allow-list view of the filesystem in a private
mount namespace (and enters an empty network namespace); the zygote moves into a mount namespace of
its own whose root is that view. A child then only unshares that small namespace to mount a private
tmpfs on /tmp, sets rlimits, drops to its slot uid and loads seccomp.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import socket
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUTS = 0x04000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
_SYS_SETRESUID = {"x86_64": 117, "aarch64": 147}.get(os.uname().machine)
_SYS_SETFSUID = {"x86_64": 122, "aarch64": 151}.get(os.uname().machine)

DEVICES = ("null", "zero", "full", "random", "urandom")
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime")


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def pivot_into(root: str) -> None:
    """Make ``root`` the filesystem root and detach the old one (needs CAP_SYS_ADMIN, not SYS_CHROOT)."""
    os.chdir(root)
    _check(_libc.syscall(155 if os.uname().machine == "x86_64" else 41, b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")


def detach(path: str) -> None:
    _libc.umount2(path.encode(), MNT_DETACH)


def prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, value, 0, 0, 0), f"prctl({option})")


def set_process_name(name: str) -> None:
    """Name this process as ``ps`` and ``top`` show it (15 bytes at most), so operators can tell the
    server, the zygote and the children apart."""
    _libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def python_dirs() -> list[str]:
    """Directories the interpreter loads from: its prefix (stdlib, lib-dynload) and site-packages.

    Only these kinds of entries of ``sys.path`` count: a script directory, the working directory or a
    PYTHONPATH entry (the project itself, say) is never exposed to the children.
    """
    paths = sysconfig.get_paths()
    dirs = {sys.base_prefix, paths["stdlib"], paths["purelib"], paths["platlib"]}
    dirs |= {p for p in sys.path if p.endswith(("site-packages", "dist-packages", "lib-dynload"))}
    dirs = {os.path.realpath(d) for d in dirs if os.path.isdir(d)}
    kept: list[str] = []
    for d in sorted(dirs, key=len):
        if not any(d == k or d.startswith(k + "/") for k in kept):
            kept.append(d)
    return kept


@dataclass(frozen=True)
class RootView:
    """An allow-list view of the filesystem, mounted at ``path`` inside the server's mount namespace."""

    path: str
    bound: tuple[str, ...]
    # Why /proc shows every process ("" when it is a fresh hidepid=2 proc): a user namespace that does
    # not own its PID namespace may only bind the host's /proc.
    proc_exposed: str = ""

    @property
    def under_tmp(self) -> tuple[str, ...]:
        """Bound directories below /tmp (a checkout or venv there): each child's own /tmp hides them, so
        they are bound again on top of it."""
        return tuple(d for d in self.bound if d.startswith("/tmp/"))


# An empty directory of the view where a child assembles its /tmp before moving it into place.
STAGING = "/.sandbox-staging"
# Files and directories a child's /tmp may hold.
TMP_INODES = 4096


def enter_empty_network() -> None:
    """An empty network namespace, and an IPC namespace of the server's own so no System V or POSIX
    IPC object of a child lands on the host's, should seccomp ever miss one."""
    unshare(CLONE_NEWNET | CLONE_NEWIPC)


def enter_own_hostname(name: str = "sandbox") -> None:
    """A UTS namespace of the server's own: children see ``name``, not the host's or container's name."""
    unshare(CLONE_NEWUTS)
    socket.sethostname(name)


def enter_private_mount_namespace() -> None:
    """A mount namespace whose mounts (the view) never propagate to the host. Separate from the
    network step: Docker's AppArmor profile allows the unshare but refuses the mount."""
    unshare(CLONE_NEWNS)
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def build_root_view(path: str, extra_dirs: Iterable[str] = ()) -> RootView:
    """Mount a read-only tmpfs at ``path`` holding read-only binds of system and Python directories,
    a few device nodes, and a /proc that hides other users' processes. Nothing else of the host
    (home directories, /root, /etc, /var, the project and its data) exists in the view."""
    previous_umask = os.umask(0o022)  # directories of the view must be traversable by the sandbox uids
    try:
        return _build_root_view(path, extra_dirs)
    finally:
        os.umask(previous_umask)


def _build_root_view(path: str, extra_dirs: Iterable[str]) -> RootView:
    mount("sandbox-root", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    bound: list[str] = []
    for src in dict.fromkeys([*SYSTEM_DIRS, *python_dirs(), *extra_dirs]):
        if os.path.isdir(src) and not os.path.islink(src):
            _bind_readonly(src, path + src, directory=True)
            bound.append(src)
        elif os.path.islink(src):
            os.makedirs(os.path.dirname(path + src), mode=0o755, exist_ok=True)
            os.symlink(os.readlink(src), path + src)
    for src in SYSTEM_FILES:
        if os.path.isfile(src):
            _bind_readonly(os.path.realpath(src), path + src, directory=False)
    for dev in DEVICES:
        if os.path.exists(f"/dev/{dev}"):
            _bind_device(f"/dev/{dev}", f"{path}/dev/{dev}")
    os.makedirs(path + "/proc", mode=0o555)
    proc_exposed = ""
    try:
        mount("proc", path + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    except PermissionError as exc:
        mount("/proc", path + "/proc", None, MS_BIND | MS_REC)
        proc_exposed = f"a new /proc could not be mounted ({exc.strerror}): the host's is bound instead"
    os.makedirs(path + "/tmp", mode=0o755, exist_ok=True)  # exists already when Python lives below /tmp
    os.makedirs(path + STAGING, mode=0o755)
    mount(None, path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    return RootView(path, tuple(bound), proc_exposed)


def _bind_readonly(src: str, dst: str, *, directory: bool) -> None:
    os.makedirs(dst if directory else os.path.dirname(dst), mode=0o755, exist_ok=True)
    if not directory:
        open(dst, "a").close()
    mount(src, dst, None, MS_BIND | MS_REC)
    mount(None, dst, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _bind_device(src: str, dst: str) -> None:
    os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
    open(dst, "a").close()
    mount(src, dst, None, MS_BIND)
    mount(None, dst, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC)


# --- per-child steps (run as root right after fork, before any code arrives) ---


def enter_view(view: RootView) -> None:
    """Move this process (the zygote) into a mount namespace of its own whose root is the view: the
    host's filesystem is gone from it, and its children's namespaces copy only the view's mounts."""
    unshare(CLONE_NEWNS)
    pivot_into(view.path)


def enter_private_tmp(view: RootView, uid: int, size_mb: int) -> None:
    """A mount namespace of the child's own (a copy of the zygote's view) with a fresh tmpfs at /tmp
    owned by ``uid``. The caller changes into /tmp after dropping to ``uid`` (root may lack
    CAP_DAC_OVERRIDE)."""
    unshare(CLONE_NEWNS)
    flags = MS_NOSUID | MS_NODEV
    # Inodes are capped too: empty files take no space but kernel memory, outside RLIMIT_AS.
    options = f"size={size_mb}m,nr_inodes={TMP_INODES},uid={uid}"
    if not view.under_tmp:
        mount("sandbox-tmp", "/tmp", "tmpfs", flags, f"{options},mode=0700")
        return
    # Directories bound below /tmp must show through the new /tmp: build it aside, bind them into it
    # from where they are still visible, then move it into place. 0711: root may lack
    # CAP_DAC_READ_SEARCH to reach the binds otherwise.
    mount("sandbox-tmp", STAGING, "tmpfs", flags, f"{options},mode=0711")
    previous = os.geteuid()
    os.seteuid(uid)  # the directories are made as the tmpfs owner: root may lack CAP_DAC_OVERRIDE
    try:
        for src in view.under_tmp:
            _make_traversable_dirs(STAGING, src.removeprefix("/tmp/"))
    finally:
        os.seteuid(previous)
    for src in view.under_tmp:
        _bind_readonly(src, STAGING + src.removeprefix("/tmp"), directory=True)
    mount(STAGING, "/tmp", None, MS_MOVE)


def _make_traversable_dirs(base: str, relative: str) -> None:
    """Create ``base/relative`` with every new component mode 0755, whatever the umask."""
    path = base
    for part in relative.split("/"):
        path = f"{path}/{part}"
        if not os.path.isdir(path):
            os.mkdir(path)
            os.chmod(path, 0o755)


def set_rlimits(*, as_bytes: int, cpu_soft: int, cpu_hard: int, fsize: int, nofile: int, nproc: int) -> None:
    limits = {
        resource.RLIMIT_AS: (as_bytes, as_bytes),
        resource.RLIMIT_CPU: (cpu_soft, cpu_hard),
        resource.RLIMIT_FSIZE: (fsize, fsize),
        resource.RLIMIT_NOFILE: (nofile, nofile),
        resource.RLIMIT_NPROC: (nproc, nproc),
        resource.RLIMIT_CORE: (0, 0),
    }
    for which, (soft, hard) in limits.items():
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:  # never ask to raise a hard limit (no CAP_SYS_RESOURCE)
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(which, (soft, hard))


def drop_to_uid(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid):
        raise OSError("uid switch did not take effect")


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when the server dies (set after the uid switch, which clears it)."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the server died before the setting took effect
        os._exit(0)


def address_space_now() -> int:
    """Current virtual size of this process in bytes (the preloaded image a child starts from)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def kill_uid(uid: int) -> None:
    """SIGKILL every process whose real or saved uid is ``uid``.

    The calling *thread* switches its real and effective uid to ``uid`` with the raw syscall (glibc's
    wrapper would switch every thread), so kill(-1) reaches exactly that uid's processes: the
    effective capability set is empty while the euid is non-zero. The saved uid stays 0 so the
    thread can switch back.
    """
    if uid == 0 or _SYS_SETRESUID is None:
        raise ValueError("kill_uid needs a non-root uid on x86_64 or aarch64")
    _check(_libc.syscall(_SYS_SETRESUID, uid, uid, 0), "setresuid for kill")
    try:
        if os.getresuid() != (uid, uid, 0) or _effective_caps() != 0:
            raise OSError("refusing kill(-1): credentials did not switch as expected")
        try:
            os.kill(-1, 9)
        except ProcessLookupError:
            pass
    finally:
        _check(_libc.syscall(_SYS_SETRESUID, 0, 0, 0), "setresuid restore")


@contextlib.contextmanager
def fs_uid(uid: int) -> Iterator[None]:
    """Access files as ``uid`` (the file-system uid of the calling thread only, which also sets aside
    its file capabilities until restored) if allowed (CAP_SETUID); otherwise as before."""
    if _SYS_SETFSUID is None or uid == os.geteuid():
        yield
        return
    previous = _libc.syscall(_SYS_SETFSUID, uid)
    try:
        yield
    finally:
        _libc.syscall(_SYS_SETFSUID, previous)


CAP_SETGID, CAP_SETUID, CAP_KILL, CAP_SYS_ADMIN, CAP_SYS_NICE = 6, 7, 5, 21, 23


def has_capabilities(*caps: int) -> bool:
    """Whether this thread holds all of ``caps`` in its effective set."""
    effective = _effective_caps()
    return all(effective >> cap & 1 for cap in caps)


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = tuple((name, ctypes.c_uint32) for name in ("effective", "permitted", "inheritable"))


_CAPABILITY_VERSION_3 = 0x20080522


def _effective_caps() -> int:
    """This thread's effective set, from capget (kill_uid asks on every run: no /proc parsing)."""
    header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if _libc.capget(ctypes.byref(header), data) != 0:
        return -1  # unknown: callers treat it as "holds capabilities"
    return data[0].effective | data[1].effective << 32


def capability_sets() -> dict[str, int]:
    """This thread's capability sets as masks: CapInh, CapPrm, CapEff, CapBnd, CapAmb."""
    with open("/proc/thread-self/status") as f:
        fields = dict(line.split(":", 1) for line in f if line.startswith("Cap"))
    return {name: int(value, 16) for name, value in fields.items()}
