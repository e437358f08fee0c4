"""The seccomp filter: compiled once in the server to BPF, loaded in each child with prctl.

An allowlist: a child may make only the system calls that a Python calculator needs (file I/O on its
own /tmp, memory, time, signals to itself, threads); everything else, including system calls newer
than this list, fails with EPERM (Python raises PermissionError), so hostile code fails loudly but the
child survives to report it. Threads stay allowed: ``clone`` passes only with ``CLONE_THREAD``, and
``clone3`` returns ENOSYS so glibc falls back to ``clone``. ``prlimit64`` and ``setpriority`` reach only
the caller, ``prctl`` cannot change its parent-death signal from SIGKILL, and ``ioctl`` cannot name a
socket's owner (who gets its SIGIO). A call from another ABI (i386 ``int 0x80``, x32) kills the child:
libseccomp's filter only accepts the native one.

The list came from tracing the 1,319 ToRA programs and a broad set of library calls (numpy, sympy,
mpmath, threads, tempfile, shutil, sqlite3, signals, timers) in a confined child, plus their close
relatives (``readv`` beside ``writev``).
"""

from __future__ import annotations

import ctypes
import errno
import os

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_CLONE_THREAD = 0x00010000
_PR_SET_PDEATHSIG = 1
_SIGKILL = 9
_FIOSETOWN, _SIOCSPGRP = 0x8901, 0x8902
_U32 = (1 << 32) - 1

# Allowed without conditions; names unknown on this architecture are skipped (aarch64 has no
# ``open``, ``stat`` or ``pipe``, only their ``*at`` and ``2`` forms).
ALLOWED_SYSCALLS: tuple[str, ...] = (
    # reading and writing open files, pipes and the control channel
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
    "lseek", "close", "close_range", "dup", "dup2", "dup3", "flock", "fsync", "fdatasync",
    "ftruncate", "fallocate", "fadvise64", "readahead", "sendfile", "copy_file_range", "pipe", "pipe2",
    # waiting on file descriptors
    "select", "pselect6", "poll", "ppoll", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
    "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
    # files by name (the child's view: read-only system directories, its own tmpfs on /tmp)
    "open", "openat", "openat2", "creat", "stat", "lstat", "fstat", "newfstatat", "statx", "statfs",
    "fstatfs", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents", "getdents64",
    "getcwd", "chdir", "fchdir", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
    "renameat2", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "fchmodat2",
    "umask", "truncate", "utime", "utimes", "utimensat", "futimesat", "getxattr", "lgetxattr", "fgetxattr",
    "listxattr", "llistxattr", "flistxattr",
    # memory
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "membarrier",
    "get_mempolicy",
    # threads and their synchronisation (clone is allowed below for threads only)
    "futex", "futex_waitv", "set_robust_list", "get_robust_list", "set_tid_address", "rseq", "arch_prctl",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_getscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "getcpu",
    # signals to itself, timers and clocks
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
    "sigaltstack", "restart_syscall", "pause", "alarm", "getitimer", "setitimer", "timer_create",
    "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete", "timerfd_create",
    "timerfd_settime", "timerfd_gettime", "signalfd", "signalfd4", "clock_gettime", "clock_getres",
    "clock_nanosleep", "nanosleep", "gettimeofday", "time", "times",
    # who and what am I; limits (raising a hard limit needs a capability the child lacks)
    "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
    "getgroups", "getpgid", "getpgrp", "getsid", "getpriority", "capget", "uname",
    "sysinfo", "getrandom", "getrlimit", "setrlimit", "getrusage", "wait4", "waitid",
    # leaving
    "exit", "exit_group",
)  # fmt: skip


# fcntl commands allowed: all but those that direct signals at another process (F_SETOWN,
# F_SETOWN_EX, F_SETSIG) or arm signals on files (F_SETLEASE, F_NOTIFY): without a uid of its own (a
# user namespace), a child could otherwise have SIGKILL sent to the server when its pipe fills. And not
# F_SETPIPE_SZ: at 1 MiB a pipe, its fds would hold 30 MiB of kernel memory outside the address-space
# limit (a default pipe holds 64 KiB).
FCNTL_COMMANDS: tuple[int, ...] = (
    0, 1, 2, 3, 4,  # F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL
    5, 6, 7, 36, 37, 38,  # F_GETLK, F_SETLK, F_SETLKW and their open-file-description forms
    9, 11, 16, 1025,  # F_GETOWN, F_GETSIG, F_GETOWN_EX, F_GETLEASE
    1030, 1032, 1033, 1034,  # F_DUPFD_CLOEXEC, F_GETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS
)  # fmt: skip


def build_filter_bpf() -> bytes:
    """Compile the filter with libseccomp and return the raw BPF program."""
    import pyseccomp as sc

    flt = sc.SyscallFilter(sc.ERRNO(errno.EPERM))
    for name in ALLOWED_SYSCALLS:
        try:
            flt.add_rule(sc.ALLOW, name)
        except (OSError, ValueError, RuntimeError):
            continue  # not a syscall on this architecture
    for command in FCNTL_COMMANDS:
        flt.add_rule(sc.ALLOW, "fcntl", sc.Arg(1, sc.EQ, command))
    flt.add_rule(sc.ALLOW, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, _CLONE_THREAD))
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    # A socket's owner gets SIGIO when it becomes ready: with the server's uid (a user namespace) a
    # child could name any process of that uid (the API that started the server) and end it.
    _allow_int_except(flt, sc, "ioctl", 1, {_FIOSETOWN, _SIOCSPGRP})
    # A child that cleared (or changed) its parent-death signal would outlive a killed server.
    _allow_int_except(flt, sc, "prctl", 0, {_PR_SET_PDEATHSIG})
    flt.add_rule(
        sc.ALLOW, "prctl", sc.Arg(0, sc.MASKED_EQ, _U32, _PR_SET_PDEATHSIG), sc.Arg(1, sc.EQ, _SIGKILL)
    )
    # Limits and priority of the caller only: without a uid of its own (a user namespace) a child
    # could otherwise lower the server's RLIMIT_CPU or RLIMIT_NOFILE, or renice it.
    flt.add_rule(sc.ALLOW, "prlimit64", sc.Arg(0, sc.EQ, 0))
    flt.add_rule(sc.ALLOW, "setpriority", sc.Arg(0, sc.EQ, 0), sc.Arg(1, sc.EQ, 0))  # PRIO_PROCESS, self
    # Signals only to oneself: kill(0, sig) is the child's own process group (it is a session leader);
    # signal 0 only asks whether a process exists.
    flt.add_rule(sc.ALLOW, "kill", sc.Arg(0, sc.EQ, 0))
    flt.add_rule(sc.ALLOW, "kill", sc.Arg(1, sc.EQ, 0))
    flt.add_rule(sc.ALLOW, "tkill", sc.Arg(1, sc.EQ, 0))
    flt.add_rule(sc.ALLOW, "tgkill", sc.Arg(2, sc.EQ, 0))
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


def _allow_int_except(flt, sc, name: str, arg: int, excluded: set[int]) -> None:
    """Allow ``name`` unless its 32-bit argument ``arg`` is one of ``excluded``.

    The kernel reads an int argument from the lower half of the register only, so a plain "not equal"
    on the 64-bit value would let ``value | 1 << 32`` through. The allowed lower halves are spelled
    instead as aligned blocks (one masked rule each) that hold no excluded value."""

    def cover(prefix: int, bits: int) -> None:
        block = range(prefix, prefix + (1 << bits))
        if not any(value in block for value in excluded):
            flt.add_rule(sc.ALLOW, name, sc.Arg(arg, sc.MASKED_EQ, _U32 & ~((1 << bits) - 1), prefix))
        elif bits:
            cover(prefix, bits - 1)
            cover(prefix + (1 << (bits - 1)), bits - 1)

    cover(0, 32)


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
