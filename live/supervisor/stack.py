"""The live stack as a whole: start it, scale it, see it, stop it -- and its state file.

``Stack.up`` prepares the state folder (a fresh registry token, the users service's signing key),
binds every instance's listening socket itself (127.0.0.1, an ephemeral port) and hands it to the
instance's process (socket activation), so every URL -- the registry's above all -- is known before
any process runs and all of them start at once: a registration sent before the registry accepts
waits in the kernel's backlog. It then waits until each answers ``/ready`` with 200 -- or fails
with the tail of the log of whichever instance died or stayed unready. The state
file (``state.json``) records every instance (pid and start time, port, URL, log file), so later
commands (``status``, ``scale``, ``logs``, ``down``) work from another process. ``down`` stops the
front first (gateway), the registry last, each with SIGTERM and a grace period to drain, then SIGKILL.

With ``mtls`` the stack is a mesh (``live up --mtls``, :mod:`live.mesh`): ``up`` issues a fresh CA and
certificates and copies the access policy into the state folder, every instance but the gateway serves
mutual TLS (URLs are ``https://``), and the supervisor probes ``/ready`` with its own certificate
(identity ``supervisor``). The choice is kept in the state file, so ``scale`` and ``status`` follow it.

Hooks (:class:`StackHook`) run after the stack is ready and before it stops: the chaos issue uses one
to put a proxy on every service-to-service edge (``live up --chaos``).
"""

from __future__ import annotations

import json
import secrets
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from live.common.settings import HOST, InstanceSettings, write_secret
from live.common.sockets import bind_loopback
from live.mesh.files import SUPERVISOR
from live.mesh.tls import MeshTlsError, client_context
from live.supervisor.processes import ProcessHandle, spawn, stop_all

__all__ = [
    "DEFAULT_REPLICAS",
    "READY_TIMEOUT",
    "SCALABLE",
    "SERVICES",
    "InstanceRecord",
    "Stack",
    "StackError",
    "StackHook",
    "StackState",
]

SERVICES = ("registry", "broker", "config", "users", "inventory", "orders", "gateway")
"""Every service of the stack, in start order (the registry first)."""

SINGLETONS = ("registry", "broker", "gateway")
"""Services that run exactly one instance (the broker's queues live in its memory)."""
SCALABLE = tuple(name for name in SERVICES if name not in SINGLETONS)
"""The services ``live scale`` and ``live autoscale`` may change."""

READY_TIMEOUT = 30.0
"""Seconds ``up`` and ``scale`` wait for every new instance to be ready before giving up. The stack
is ready in a few seconds on an idle laptop (``benchmarks/startup.py``); the margin is for a busy one."""

DEFAULT_REPLICAS = dict.fromkeys(SERVICES, 1)
STATE_FILE = "state.json"
Prepare = Callable[[Path], object]


class StackError(RuntimeError):
    """The stack could not be started, found or changed; the message says why and where to look."""


@dataclass(frozen=True)
class InstanceRecord:
    """One running instance, as the state file records it."""

    service: str
    instance: str
    pid: int
    started: float
    port: int
    url: str
    log: str

    @property
    def handle(self) -> ProcessHandle:
        return ProcessHandle(self.pid, self.started)

    @property
    def number(self) -> int:
        return int(self.instance.rsplit("-", 1)[1])


@dataclass
class StackState:
    """What ``state.json`` holds: where the stack lives and every instance of it."""

    state_dir: str
    instances: list[InstanceRecord] = field(default_factory=list)
    registry_url: str | None = None
    parent_pid: int | None = None
    gateway_config: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def of(self, service: str) -> list[InstanceRecord]:
        """The instances of ``service``, by number."""
        return sorted((i for i in self.instances if i.service == service), key=lambda i: i.number)

    def url(self, service: str) -> str | None:
        """The URL of the first instance of ``service`` (the registry's, the gateway's), if running."""
        found = self.of(service)
        return found[0].url if found else None

    @property
    def path(self) -> Path:
        return Path(self.state_dir) / STATE_FILE

    def save(self) -> None:
        """Write the state file atomically (a reader never sees half of it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        partial.replace(self.path)

    @classmethod
    def load(cls, state_dir: Path) -> StackState | None:
        """The state in ``state_dir``, or None when no stack was started there."""
        path = state_dir / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, OSError) as error:
            raise StackError(f"{path} is unreadable ({error}); remove it if no stack runs") from None
        data["instances"] = [InstanceRecord(**item) for item in data.get("instances", [])]
        return cls(**data)


class StackHook(Protocol):
    """Joins the stack's life: ``ready`` after ``up`` and ``scale``, ``stopping`` before ``down``."""

    def ready(self, stack: Stack) -> None: ...

    def stopping(self, stack: Stack) -> None: ...


def _get(url: str, timeout: float = 1.0, context: ssl.SSLContext | None = None) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return 0


def _log_end(settings: InstanceSettings, lines: int = 15) -> str:
    """The last lines of an instance's log, to say why it did not start."""
    path = settings.state_dir / "logs" / f"{settings.instance}.log"
    try:
        tail = "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        tail = "(no log written)"
    return f"the end of {path}:\n{tail}"


@dataclass(frozen=True)
class _Starting:
    """An instance started and not yet known to be ready."""

    settings: InstanceSettings
    handle: ProcessHandle
    port: int

    @property
    def url(self) -> str:
        return f"{self.settings.scheme}://{HOST}:{self.port}"

    def record(self) -> InstanceRecord:
        settings, handle = self.settings, self.handle
        log = settings.state_dir / "logs" / f"{settings.instance}.log"
        return InstanceRecord(
            settings.service, settings.instance, handle.pid, handle.started, self.port, self.url, str(log)
        )


class Stack:
    """A stack in ``state_dir``: the processes it started and the state file that remembers them."""

    def __init__(
        self,
        state_dir: Path,
        *,
        parent_pid: int | None = None,
        gateway_config: Path | None = None,
        prepare: Sequence[Prepare] = (),
        hooks: Sequence[StackHook] = (),
        grace: float = 5.0,
        mtls: bool = False,
        mesh_policy: Path | None = None,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.parent_pid = parent_pid
        self.gateway_config = gateway_config.resolve() if gateway_config else None
        self.prepare = list(prepare)
        self.hooks = list(hooks)
        self.grace = grace
        self.mtls = mtls
        self.mesh_policy = mesh_policy
        self._probe_context: ssl.SSLContext | None = None
        self._spawned: list[ProcessHandle] = []
        self.state = StackState.load(self.state_dir) or StackState(
            str(self.state_dir),
            parent_pid=parent_pid,
            gateway_config=str(self.gateway_config) if self.gateway_config else None,
        )

    # -- starting -------------------------------------------------------------------------------

    def settings(self, service: str, number: int) -> InstanceSettings:
        """The settings instance ``number`` of ``service`` starts with."""
        return InstanceSettings(
            service=service,
            instance=f"{service}-{number}",
            state_dir=self.state_dir,
            registry_url=None if service == "registry" else self.state.registry_url,
            parent_pid=self.state.parent_pid,
            config_file=Path(self.state.gateway_config)
            if service == "gateway" and self.state.gateway_config
            else None,
            mtls=bool(self.state.options.get("mtls")),
        )

    def _probe(self, url: str, timeout: float = 1.0) -> int:
        """The status of GET ``url`` (0: no answer); https ones with the supervisor's mesh certificate."""
        context = None
        if url.startswith("https:"):
            if self._probe_context is None:
                try:
                    self._probe_context = client_context(self.state_dir, SUPERVISOR)
                except MeshTlsError as error:
                    raise StackError(str(error)) from None
            context = self._probe_context
        return _get(url, timeout, context)

    def _start(self, service: str, number: int, port: int = 0) -> _Starting:
        """Bind the instance's socket here (so its URL is known at once), then start it on that socket
        (``port`` 0: a free one)."""
        sock = bind_loopback(port)
        port = sock.getsockname()[1]
        try:
            settings = replace(self.settings(service, number), listen_fd=sock.fileno())
            log = settings.path("logs", f"{settings.instance}.log")
            handle = spawn(f"live.{service}", settings.environ(), log, pass_fds=(sock.fileno(),))
        finally:
            sock.close()  # the child holds its own copy
        self._spawned.append(handle)
        return _Starting(settings, handle, port)

    def _await_ready(self, starting: Iterable[_Starting], deadline: float) -> list[InstanceRecord]:
        """Wait until every starting instance answers ``/ready`` with 200 (StackError: died or late)."""
        pending = list(starting)
        ready: list[InstanceRecord] = []
        while pending:
            for item in pending:
                if not item.handle.alive():
                    raise StackError(
                        f"{item.settings.instance} exited while starting; {_log_end(item.settings)}"
                    )
            answered = [item for item in pending if self._probe(f"{item.url}/ready") == 200]
            ready += [item.record() for item in answered]
            pending = [item for item in pending if item not in answered]
            if pending and time.monotonic() > deadline:
                names = ", ".join(item.settings.instance for item in pending)
                raise StackError(f"not ready in time: {names}; {_log_end(pending[0].settings)}")
            if pending:
                time.sleep(0.05)
        return ready

    def running(self) -> list[InstanceRecord]:
        """The recorded instances whose process still runs."""
        return [record for record in self.state.instances if record.handle.alive()]

    def up(self, replicas: Mapping[str, int] | None = None, timeout: float = READY_TIMEOUT) -> StackState:
        """Start the whole stack (``replicas``: instances per service, default one) and wait until ready."""
        counts = {**DEFAULT_REPLICAS, **(replicas or {})}
        for service, count in counts.items():
            if service not in SERVICES:
                raise StackError(f"unknown service {service!r}: the stack has {', '.join(SERVICES)}")
            if count < 1 or (service in SINGLETONS and count != 1):
                raise StackError(f"{service} needs {'exactly 1' if count >= 1 else 'at least 1'} instance")
        if self.running():
            raise StackError(f"a stack already runs in {self.state_dir}: `servicelab live down` first")
        self.state.instances = []
        self.state_dir.mkdir(parents=True, exist_ok=True)
        write_secret(self.state_dir, "registry-token", secrets.token_urlsafe(32))
        self.state.options["mtls"] = self.mtls
        self._probe_context = None
        if self.mtls:
            from live.mesh.policy import MeshPolicyError  # cryptography and pydantic: only for a mesh
            from live.mesh.setup import prepare_mesh

            try:
                prepare_mesh(self.state_dir, SERVICES, self.mesh_policy)
            except MeshPolicyError as error:
                raise StackError(str(error)) from None
        for prepare in self.prepare:
            prepare(self.state_dir)
        deadline = time.monotonic() + timeout
        try:
            registry = self._start("registry", 1)
            self.state.registry_url = registry.url  # known now: every other instance starts at once
            starting = [registry] + [
                self._start(service, number)
                for service in SERVICES[1:]
                for number in range(1, counts[service] + 1)
            ]
            self._add(self._await_ready(starting, deadline))
        except BaseException:  # also Ctrl-C: nothing half-started stays behind
            stop_all(self._spawned, self.grace)
            self.state.instances = []
            self.state.path.unlink(missing_ok=True)
            raise
        for hook in self.hooks:
            hook.ready(self)
        return self.state

    def _add(self, records: list[InstanceRecord]) -> None:
        self.state.instances.extend(records)
        self.state.save()

    # -- changing -------------------------------------------------------------------------------

    def scale(self, service: str, count: int, timeout: float = READY_TIMEOUT) -> StackState:
        """Run exactly ``count`` instances of ``service``: start new ones, or stop the newest gracefully."""
        if service not in SCALABLE:
            raise StackError(f"cannot scale {service!r}: the scalable services are {', '.join(SCALABLE)}")
        if count < 1:
            raise StackError(f"{service} needs at least 1 instance, got {count}")
        if not self.running():
            raise StackError(f"no stack runs in {self.state_dir}: `servicelab live up` first")
        current = self.state.of(service)
        if count > len(current):
            first = max((record.number for record in current), default=0) + 1
            self._spawned = []
            try:
                numbers = range(first, first + count - len(current))
                starting = [self._start(service, number) for number in numbers]
                self._add(self._await_ready(starting, time.monotonic() + timeout))
            except BaseException:
                stop_all(self._spawned, self.grace)
                raise
        elif count < len(current):
            leaving = current[count:]
            stop_all([record.handle for record in leaving], self.grace)
            gone = {record.instance for record in leaving}
            self.state.instances = [i for i in self.state.instances if i.instance not in gone]
            self.state.save()
        for hook in self.hooks:
            hook.ready(self)
        return self.state

    def restart(self, instances: Iterable[str], timeout: float = READY_TIMEOUT) -> StackState:
        """Start again each named instance whose process is gone (a chaos experiment killed it), on its
        old port -- so its URL, the registry's above all, stays valid -- and wait until it is ready."""
        names = set(instances)
        gone = [record for record in self.state.instances if record.instance in names]
        unknown = names - {record.instance for record in gone}
        if unknown:
            raise StackError(f"no instance {', '.join(sorted(unknown))} in the stack in {self.state_dir}")
        gone = [record for record in gone if not record.handle.alive()]
        self._spawned = []
        try:
            starting = [self._start(record.service, record.number, record.port) for record in gone]
            ready = self._await_ready(starting, time.monotonic() + timeout)
        except OSError as error:
            stop_all(self._spawned, self.grace)
            raise StackError(f"cannot restart on the old port: {error}") from None
        except BaseException:
            stop_all(self._spawned, self.grace)
            raise
        back = {record.instance for record in ready}
        self.state.instances = [i for i in self.state.instances if i.instance not in back] + ready
        self.state.save()
        for hook in self.hooks:
            hook.ready(self)
        return self.state

    # -- stopping -------------------------------------------------------------------------------

    def _stop_everything(self) -> list[str]:
        killed: list[str] = []
        for service in reversed(SERVICES):
            records = self.state.of(service)
            stubborn = stop_all([record.handle for record in records], self.grace)
            killed += [record.instance for record in records if record.handle in stubborn]
        return killed

    def down(self) -> list[str]:
        """Stop every instance (front first); returns the instances that had to be killed."""
        for hook in self.hooks:
            hook.stopping(self)
        killed = self._stop_everything()
        self.state.instances = []
        self.state.path.unlink(missing_ok=True)
        return killed

    # -- looking --------------------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """Every recorded instance with whether its process runs and whether it is ready."""
        rows = []
        for record in self.state.instances:
            alive = record.handle.alive()
            ready = alive and self._probe(f"{record.url}/ready", timeout=0.5) == 200
            rows.append({**asdict(record), "alive": alive, "ready": ready})
        return rows
