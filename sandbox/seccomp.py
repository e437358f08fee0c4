"""The seccomp filter: compiled once in the server to BPF, loaded in each child with prctl.

Denied calls return EPERM (Python raises PermissionError) so hostile code fails loudly but the child
survives to report it. Threads stay allowed: ``clone`` is refused only without ``CLONE_THREAD``, and
``clone3`` returns ENOSYS so glibc falls back to ``clone``.
"""

from __future__ import annotations

import ctypes
import errno
import os

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_CLONE_THREAD = 0x00010000

# Syscalls a calculator never needs; unknown names on this architecture are skipped.
DENIED_SYSCALLS: tuple[str, ...] = (
    # network and IPC endpoints (a network namespace does not stop Unix sockets on disk)
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    # System V IPC and POSIX message queues: objects outlive the process that made them, in an IPC
    # namespace other children (and, without the server's own namespace, the host) share
    "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop",
    "semtimedop", "semctl", "ipc", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
    "mq_getsetattr",
    # memory outside the address-space limit (a memfd is only counted once mapped)
    "memfd_create", "memfd_secret",
    # new programs and processes
    "execve", "execveat", "fork", "vfork",
    # other processes' memory and state
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "process_madvise",
    # namespaces and mounts
    "mount", "umount2", "unshare", "setns", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "name_to_handle_at", "open_by_handle_at",
    # identity
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid",
    "setfsgid", "capset",
    # kernel surfaces
    "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd", "personality",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "fanotify_init", "lookup_dcookie",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "syslog", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "sethostname", "setdomainname", "iopl", "ioperm", "vhangup", "migrate_pages",
    "move_pages", "mbind", "set_mempolicy", "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl",
    "create_module", "get_kernel_syms", "query_module", "vm86", "vm86old", "modify_ldt",
)  # fmt: skip


def build_filter_bpf() -> bytes:
    """Compile the filter with libseccomp and return the raw BPF program."""
    import pyseccomp as sc

    flt = sc.SyscallFilter(sc.ALLOW)
    deny = sc.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        try:
            flt.add_rule(deny, name)
        except (OSError, ValueError, RuntimeError):
            continue  # not a syscall on this architecture
    flt.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    # Signals only to oneself: kill(0, sig) is the child's own process group (it is a session leader).
    flt.add_rule(deny, "kill", sc.Arg(0, sc.NE, 0), sc.Arg(1, sc.NE, 0))
    flt.add_rule(deny, "tkill", sc.Arg(1, sc.NE, 0))
    flt.add_rule(deny, "tgkill", sc.Arg(2, sc.NE, 0))
    read_fd, write_fd = os.pipe()
    try:
        with os.fdopen(write_fd, "wb", closefd=True) as sink:
            flt.export_bpf(sink)
        chunks = []
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    program = b"".join(chunks)
    if not program or len(program) % 8:
        raise OSError("libseccomp exported an empty or malformed BPF program")
    return program


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


class CompiledFilter:
    """A BPF program kept in memory that forked children inherit and load cheaply."""

    def __init__(self, program: bytes) -> None:
        self._buffer = ctypes.create_string_buffer(program, len(program))
        self._fprog = _SockFprog(len(program) // 8, ctypes.addressof(self._buffer))
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.instructions = len(program) // 8

    def load(self) -> None:
        """Set no_new_privs and install the filter on the calling thread (and its future threads)."""
        prctl = self._libc.prctl
        if prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(self._fprog), 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"prctl(PR_SET_SECCOMP) failed: {os.strerror(err)}")
