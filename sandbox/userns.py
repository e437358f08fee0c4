"""Running without root: a user namespace instead of a uid per child.

A server started by an ordinary user cannot switch children to other uids. It can still make a user
namespace of its own (if the kernel allows unprivileged ones), which maps only its own uid and gives
it the capabilities it needs *inside* that namespace: mount and network namespaces, the filesystem
view, a tmpfs per child. Children then share the server's uid and shed every capability before code
arrives; seccomp, Landlock and the server's non-dumpable state do what separate uids did (no
ptrace, no signals to other processes, no access to another child's files).
"""

from __future__ import annotations

import ctypes
import os

from . import confine

CLONE_NEWUSER = 0x10000000
_PR_GET_DUMPABLE, _PR_SET_DUMPABLE = 3, 4
_PR_SET_SECUREBITS = 28
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
# SECBIT_NOROOT, SECBIT_NO_SETUID_FIXUP and SECBIT_NO_CAP_AMBIENT_RAISE, each locked, and
# SECBIT_KEEP_CAPS locked off: nothing the child does later gives it capabilities back.
_SECUREBITS_LOCKED = (1 << 0 | 1 << 1) | (1 << 2 | 1 << 3) | (1 << 5) | (1 << 6 | 1 << 7)
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)

# RLIMIT_NPROC counts every task of a uid in the namespace, and here the server (with its worker
# threads), the zygote and up to 128 children share one uid: each child's limit is raised by this
# much so that concurrent runs can still start threads. Seccomp still refuses new processes; what
# bounds one child's threads is then its address space (each stack reserves 8 MiB).
SHARED_UID_TASKS = 256


def unavailable_reason(network: bool) -> str:
    """Try the namespace in a throwaway child first: a failure half-way (unshared, but the uid map
    refused) would leave this process as an unmapped uid. Returns "" if it works, else why not."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the throwaway child
        os.close(read_fd)
        try:
            enter_user_namespace(network)
            message = b""
        except OSError as exc:
            message = str(exc).encode()[:500]
        os.write(write_fd, message or b"ok")
        os._exit(0)
    os.close(write_fd)
    try:
        answer = os.read(read_fd, 600).decode(errors="replace")
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    return "" if answer == "ok" else answer or "the trial child died"


def enter_user_namespace(network: bool) -> None:
    """Unshare a user namespace (with mount, IPC and, if asked, network namespaces) that maps this
    process's own uid and gid to themselves. Must run while the process has a single thread."""
    uid, gid = os.geteuid(), os.getegid()
    flags = (
        CLONE_NEWUSER | confine.CLONE_NEWNS | confine.CLONE_NEWIPC | (confine.CLONE_NEWNET if network else 0)
    )
    if _libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWUSER): {os.strerror(err)}")
    # The map files belong to root while the process is not dumpable (as the server makes itself early
    # on): dumpable just for the writes, before any child exists.
    dumpable = _libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0)
    _prctl(_PR_SET_DUMPABLE, 1)
    try:
        _write("/proc/self/setgroups", "deny")  # required before an unprivileged gid_map
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    finally:
        _prctl(_PR_SET_DUMPABLE, dumpable)
    confine.mount(None, "/", None, confine.MS_REC | confine.MS_PRIVATE)


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def drop_all_capabilities() -> None:
    """Lock the securebits, empty the bounding and ambient sets, then the effective, permitted and
    inheritable sets; raises unless /proc confirms the process holds nothing."""
    _prctl(_PR_SET_SECUREBITS, _SECUREBITS_LOCKED)
    for cap in range(_last_cap() + 1):
        _prctl(_PR_CAPBSET_DROP, cap)
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")
    held = confine.capability_sets()
    if any(held.values()):
        raise OSError(f"capabilities still held after dropping them: {held}")


def _prctl(option: int, arg: int) -> None:
    if _libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}, {arg}): {os.strerror(err)}")


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 40  # CAP_CHECKPOINT_RESTORE, the last one as of Linux 5.9
