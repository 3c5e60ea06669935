"""``live up --chaos``: a Toxiproxy proxy on every service-to-service edge, as a stack hook.

``ready`` (after ``up``, ``scale`` and an instance's restart) makes sure a Toxiproxy runs -- the
embedded server (:mod:`chaos.toxiproxy`) as a child process of the stack, in its own process group
like every stack process, or a real ``toxiproxy-server`` the user gave by URL -- and then makes its
proxies match the stack's edges (:func:`chaos.edges.edges_of`): a proxy is created for each new
edge, pointed at the instance's current port when it moved, and removed when its instance is gone.
Finally it writes ``edges.json``, which callers' discovery follows (:mod:`live.common.edges`), so
their next calls cross the proxies. ``stopping`` (before ``down``) removes ``edges.json`` and stops
the child process (on a real server it deletes the proxies it made instead).

Where Toxiproxy runs goes into ``state.json`` under ``options["chaos"]``: experiments find its API
there (:func:`chaos_of`), and later commands (``live scale``, ``live down``) find the hook again
(:func:`chaos_hooks`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass

from chaos.client import ToxiproxyClient, ToxiproxyError
from chaos.edges import edges_of, split_proxy_name
from live.common.edges import EDGES_FILE, write_edges
from live.common.sockets import free_port
from live.supervisor.processes import ProcessHandle, spawn_command, stop_all
from live.supervisor.stack import Stack, StackError, StackHook, StackState

__all__ = ["OPTION", "ChaosHook", "ToxiproxyRecord", "chaos_hooks", "chaos_of"]

OPTION = "chaos"
"""The key of the Toxiproxy record in ``StackState.options``."""


@dataclass(frozen=True)
class ToxiproxyRecord:
    """The stack's Toxiproxy: its API URL, and the child process when the stack runs it (pid 0: external)."""

    url: str
    pid: int = 0
    started: float = 0.0
    log: str = ""

    @property
    def external(self) -> bool:
        return self.pid == 0

    @property
    def handle(self) -> ProcessHandle:
        return ProcessHandle(self.pid, self.started)

    def running(self) -> bool:
        return self.external or self.handle.alive()


def chaos_of(state: StackState) -> ToxiproxyRecord | None:
    """The Toxiproxy the state records, if the stack runs with ``--chaos``."""
    found = state.options.get(OPTION)
    return ToxiproxyRecord(**found) if found else None


def start_embedded(stack: Stack, timeout: float) -> ToxiproxyRecord:
    """Run ``python -m chaos.toxiproxy`` on a free loopback port; return once its API answers."""
    port = free_port()
    log = stack.state_dir / "logs" / "toxiproxy.log"
    handle = spawn_command([sys.executable, "-m", "chaos.toxiproxy", "--port", str(port)], {}, log)
    record = ToxiproxyRecord(f"http://127.0.0.1:{port}", handle.pid, handle.started, str(log))
    client = ToxiproxyClient(record.url, timeout=1.0)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.version()
            return record
        except ToxiproxyError:
            if not handle.alive() or time.monotonic() > deadline:
                stop_all([handle], 1.0)
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
                message = f"the embedded Toxiproxy did not answer at {record.url}; {log}:\n{tail}"
                raise StackError(message) from None
            time.sleep(0.05)


def sync_proxies(client: ToxiproxyClient, state: StackState) -> dict[str, dict[str, str]]:
    """Make the proxies match the edges of ``state``; the routes for ``edges.json``."""
    existing = client.proxies()
    wanted = {edge.proxy: edge for edge in edges_of(state)}
    for name in existing:
        if name not in wanted and split_proxy_name(name) is not None:
            client.delete_proxy(name)
    routes: dict[str, dict[str, str]] = {}
    for name, edge in wanted.items():
        proxy = existing.get(name)
        if proxy is None:
            proxy = client.create_proxy(name, edge.upstream)
        elif proxy["upstream"] != edge.upstream:
            proxy = client.update_proxy(name, upstream=edge.upstream)
        routes.setdefault(edge.caller, {})[edge.instance] = proxy["listen"]
    return routes


class ChaosHook:
    """Proxies on every edge (``live up --chaos``); ``toxiproxy_url``: a real server's API instead of
    the embedded one."""

    def __init__(self, toxiproxy_url: str | None = None, timeout: float = 10.0) -> None:
        self.toxiproxy_url = toxiproxy_url
        self.timeout = timeout

    def _toxiproxy(self, stack: Stack) -> ToxiproxyRecord:
        record = chaos_of(stack.state)
        if record is not None and record.running():
            return record
        if self.toxiproxy_url is not None:
            record = ToxiproxyRecord(self.toxiproxy_url.rstrip("/"))
        elif record is not None and record.external:
            record = ToxiproxyRecord(record.url)
        else:
            record = start_embedded(stack, self.timeout)
        stack.state.options[OPTION] = asdict(record)
        stack.state.save()
        return record

    def ready(self, stack: Stack) -> None:
        try:
            record = self._toxiproxy(stack)
            routes = sync_proxies(ToxiproxyClient(record.url), stack.state)
        except (StackError, ToxiproxyError) as error:
            raise StackError(f"{error}\n(the stack itself runs: `servicelab live down` stops it)") from None
        write_edges(stack.state_dir, routes)

    def stopping(self, stack: Stack) -> None:
        (stack.state_dir / EDGES_FILE).unlink(missing_ok=True)
        record = chaos_of(stack.state)
        if record is None:
            return
        if record.external:
            client = ToxiproxyClient(record.url)
            try:
                for name in client.proxies():
                    if split_proxy_name(name) is not None:
                        client.delete_proxy(name)
            except ToxiproxyError:
                pass  # the user's server is gone: nothing of ours is left on it
        else:
            stop_all([record.handle], stack.grace)
        stack.state.options.pop(OPTION, None)


def chaos_hooks(state: StackState) -> list[StackHook]:
    """The hooks a command working on an existing stack needs: the chaos hook, if the stack has one."""
    return [ChaosHook()] if chaos_of(state) is not None else []
