"""Typed errors raised by the sandbox client."""


class SandboxError(Exception):
    """Base class for every error the sandbox client raises."""


class SandboxUnavailable(SandboxError):
    """The sandbox server cannot be reached, failed to start, or died during a request."""


class SandboxBusy(SandboxError):
    """The client's bounded wait queue is full (retry later or raise ``max_queue``), or the server found
    no uid free within the request's deadline (open sessions hold them all; close some or give the
    server more uids)."""


class SandboxRefused(SandboxUnavailable):
    """The server refused to start because a required confinement layer is missing."""


class ProtocolError(SandboxError):
    """A malformed frame or an unexpected reply on the wire."""


class RequestRejected(SandboxError):
    """The server rejected a request as invalid (bad field, oversized code, unknown op)."""
