"""Landlock: a filesystem allow-list that needs no mounts and no privilege.

Each child restricts itself to reading the system and Python directories, a few devices and its own
``/proc/<pid>``, and to writing only its work directory. Under the filesystem view this is defence in
depth; where mounts are refused (Docker's default AppArmor profile, no ``CAP_SYS_ADMIN``) it is what
keeps a run from reading the host's files or leaving files in ``/tmp``, ``/dev/shm`` or ``/var/tmp``
for the next run. From ABI 4 it also refuses TCP, and from ABI 6 signals and abstract Unix sockets
outside the child.

The kernel interface is three system calls, used here through ctypes: the PyPI bindings are
pre-releases, and the ABI is small and stable.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

_libc = ctypes.CDLL(None, use_errno=True)

# The same numbers on every architecture that has Landlock.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_ABI1_FS = (1 << 13) - 1  # execute ... make_sym
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

READ = READ_FILE | READ_DIR
DEVICE = READ_FILE | WRITE_FILE | IOCTL_DEV  # /dev/null and friends: files, not directories
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def abi_version() -> int:
    """The kernel's Landlock ABI version; OSError if Landlock is missing or disabled."""
    version = _libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    if version < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"Landlock unavailable: {os.strerror(err)}")
    return version


def _handled(abi: int) -> tuple[int, int, int, int]:
    """(filesystem rights, network rights, scopes, size of the ruleset attribute) this ABI knows."""
    fs = (
        _ABI1_FS | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0) | (IOCTL_DEV if abi >= 5 else 0)
    )
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    return fs, net, scoped, size


@dataclass(frozen=True)
class FsPolicy:
    """What a child may read (directories and single files) and which device files it may use; the one
    directory it may write is its own and given per child."""

    read_paths: tuple[str, ...]
    device_files: tuple[str, ...] = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


class Ruleset:
    """A ruleset built while the child still runs as root (it can open every allowed path), enforced
    after it drops to its uid."""

    def __init__(self, policy: FsPolicy, write_dir: str | None) -> None:
        self.abi = abi_version()
        fs, net, scoped, size = _handled(self.abi)
        self._fs = fs
        attr = _RulesetAttr(fs, net, scoped)
        self.fd = _libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
        if self.fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_create_ruleset: {os.strerror(err)}")
        try:
            self._allow_all(policy.read_paths, READ)
            self._allow_all(policy.device_files, DEVICE)
            self._allow_all(["/proc/self"], READ)  # opens as /proc/<this child's pid>
            if write_dir is not None:
                self._allow(write_dir, fs, required=True)
        except BaseException:
            self.close()
            raise

    def _allow_all(self, paths: Iterable[str], rights: int) -> None:
        for path in paths:
            self._allow(path, rights, required=False)

    def _allow(self, path: str, rights: int, *, required: bool) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            if required:
                raise
            return  # absent on this host (no /lib32, say)
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                rights &= _FILE_RIGHTS  # a rule on a file may only grant file rights
            rule = _PathBeneathAttr(rights & self._fs, fd)
            if _libc.syscall(_SYS_ADD_RULE, self.fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"landlock_add_rule {path}: {os.strerror(err)}")
        finally:
            os.close(fd)

    def enforce(self) -> None:
        """Restrict this thread (and what it starts later) for good; needs no_new_privs when unprivileged."""
        try:
            if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")
            if _libc.syscall(_SYS_RESTRICT_SELF, self.fd, 0) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"landlock_restrict_self: {os.strerror(err)}")
        finally:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
