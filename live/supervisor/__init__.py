"""The supervisor: the whole live stack as child processes on loopback (``servicelab live up``)."""

from live.supervisor.stack import (
    DEFAULT_REPLICAS,
    READY_TIMEOUT,
    SERVICES,
    InstanceRecord,
    Stack,
    StackError,
    StackHook,
    StackState,
)

__all__ = [
    "DEFAULT_REPLICAS",
    "READY_TIMEOUT",
    "SERVICES",
    "InstanceRecord",
    "Stack",
    "StackError",
    "StackHook",
    "StackState",
]
