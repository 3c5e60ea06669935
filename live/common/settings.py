"""What one live process knows about itself: its service, its instance id and the stack's state folder.

The supervisor starts every process of the stack as ``python -m live.<service>`` with a few
environment variables; everything else (ports, tokens, keys, databases) is found through the state
folder it names, so that nothing secret travels on a command line:

    <state_dir>/
      state.json               the supervisor's record: instances, pids, ports, URLs
      secrets/registry-token   the token registry writes need (0600, generated at ``live up``)
      secrets/jwt-private.pem  the users service's signing key (0600, generated at ``live up``)
      secrets/mesh-*           with ``live up --mtls``: the mesh CA's certificate, and a certificate and
                               key per identity (0600, issued at ``live up``; see live.mesh.certs)
      mesh-policy.yaml         with ``live up --mtls``: who may call whom (see live.mesh.policy)
      secrets/config-token     the token config writes need (0600, generated at ``live up``)
      config/environment       the configuration environment ``live up --env`` chose (dev, test, prod)
      run/<instance>.json      written by each process once it listens: service, instance, pid, port, url
      logs/<instance>.log      the process's JSON log lines (stdout and stderr)
      traces/<instance>.jsonl  its spans, one OTLP/JSON document per line
      data/<service>.sqlite3   the service's own database, shared by its replicas

Environment variables: ``SERVICELAB_SERVICE``, ``SERVICELAB_INSTANCE``, ``SERVICELAB_STATE_DIR``,
``SERVICELAB_REGISTRY_URL`` (absent for the registry itself), ``SERVICELAB_PARENT_PID`` (optional:
the process exits when that process is gone, so a test that dies cannot leave orphans) and
``SERVICELAB_CONFIG_FILE`` (optional: a YAML file the service reads, such as the gateway's routes)
and ``SERVICELAB_LISTEN_FD`` (optional: an inherited listening socket to serve on, bound by the
supervisor so that it knows every port before any process starts; without it the process binds
127.0.0.1 on an ephemeral port itself) and ``SERVICELAB_MTLS`` (``1``: the stack runs as a mesh with
mutual TLS -- the process serves HTTPS demanding a client certificate, enforces the mesh policy and
calls other services with its own certificate; only the gateway's public side stays plain HTTP).

Container mode (``live/deploy/``: one process per container, no supervisor): ``SERVICELAB_LISTEN``
(``HOST:PORT``, a fixed address to bind, such as ``0.0.0.0:8000`` inside the container's own network
namespace, where published ports arrive on its interface, not its loopback) and
``SERVICELAB_ADVERTISE_HOST`` (the name other containers reach it under, registered with the registry
instead of 127.0.0.1; a registry given one accepts instances at hosts other than loopback).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HOST", "MESH_EDGE", "InstanceSettings", "read_secret", "write_secret"]

HOST = "127.0.0.1"
"""Every live server binds here and only here."""

MESH_EDGE = frozenset({"gateway"})
"""Services whose own port faces clients outside the mesh: plain HTTP even with mTLS on (their calls to
the services behind them still use mTLS)."""


@dataclass(frozen=True)
class InstanceSettings:
    """One process of the stack: which service and instance it is, and where the stack keeps its files."""

    service: str
    instance: str
    state_dir: Path
    registry_url: str | None = None
    parent_pid: int | None = None
    config_file: Path | None = None
    listen_fd: int | None = None
    mtls: bool = False
    listen: tuple[str, int] | None = None
    advertise_host: str = HOST

    @property
    def container_mode(self) -> bool:
        """True when the process is reached under a name other than 127.0.0.1 (``live/deploy/``)."""
        return self.advertise_host != HOST

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InstanceSettings:
        """The settings the supervisor passed in the environment (KeyError names a missing variable)."""
        env = os.environ if environ is None else environ
        service = env["SERVICELAB_SERVICE"]
        parent = env.get("SERVICELAB_PARENT_PID")
        config = env.get("SERVICELAB_CONFIG_FILE")
        listen_fd = env.get("SERVICELAB_LISTEN_FD")
        listen = env.get("SERVICELAB_LISTEN")
        return cls(
            service=service,
            instance=env.get("SERVICELAB_INSTANCE", f"{service}-1"),
            state_dir=Path(env["SERVICELAB_STATE_DIR"]),
            registry_url=env.get("SERVICELAB_REGISTRY_URL") or None,
            parent_pid=int(parent) if parent else None,
            config_file=Path(config) if config else None,
            listen_fd=int(listen_fd) if listen_fd else None,
            mtls=env.get("SERVICELAB_MTLS") == "1",
            listen=_address(listen) if listen else None,
            advertise_host=env.get("SERVICELAB_ADVERTISE_HOST") or HOST,
        )

    def environ(self) -> dict[str, str]:
        """The environment variables that give a child process these settings."""
        env = {
            "SERVICELAB_SERVICE": self.service,
            "SERVICELAB_INSTANCE": self.instance,
            "SERVICELAB_STATE_DIR": str(self.state_dir),
        }
        if self.registry_url:
            env["SERVICELAB_REGISTRY_URL"] = self.registry_url
        if self.parent_pid is not None:
            env["SERVICELAB_PARENT_PID"] = str(self.parent_pid)
        if self.config_file is not None:
            env["SERVICELAB_CONFIG_FILE"] = str(self.config_file)
        if self.listen_fd is not None:
            env["SERVICELAB_LISTEN_FD"] = str(self.listen_fd)
        if self.mtls:
            env["SERVICELAB_MTLS"] = "1"
        if self.listen is not None:
            env["SERVICELAB_LISTEN"] = f"{self.listen[0]}:{self.listen[1]}"
        if self.container_mode:
            env["SERVICELAB_ADVERTISE_HOST"] = self.advertise_host
        return env

    @property
    def serves_mtls(self) -> bool:
        """Whether this process's own port speaks mutual TLS (the mesh is on and it is not the edge)."""
        return self.mtls and self.service not in MESH_EDGE

    @property
    def scheme(self) -> str:
        """``https`` when the process serves mutual TLS, else ``http``."""
        return "https" if self.serves_mtls else "http"

    def path(self, *parts: str) -> Path:
        """A path inside the state folder, its parent folder created."""
        target = self.state_dir.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    @property
    def database(self) -> Path:
        """The service's SQLite file (its replicas share it)."""
        return self.path("data", f"{self.service}.sqlite3")

    @property
    def trace_file(self) -> Path:
        return self.path("traces", f"{self.instance}.jsonl")

    @property
    def run_file(self) -> Path:
        return self.path("run", f"{self.instance}.json")

    @property
    def registry_token(self) -> str | None:
        """The registry write token, if ``live up`` generated one."""
        return read_secret(self.state_dir, "registry-token")


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"SERVICELAB_LISTEN must be HOST:PORT, got {text!r}")
    return host, int(port)


def read_secret(state_dir: Path, name: str) -> str | None:
    """The text of ``secrets/<name>`` in the state folder, or None when there is none."""
    path = state_dir / "secrets" / name
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def write_secret(state_dir: Path, name: str, text: str) -> Path:
    """Write ``secrets/<name>`` readable by its owner only (created 0600, never world-readable)."""
    folder = state_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    return path
