"""Fixtures for the Toxiproxy compatibility suite: the same tests against every server we have.

``toxiproxy`` is parametrized over ``embedded`` (servicelab's server, always) and ``real`` (the Go
``toxiproxy-server`` when it is on PATH). The real one is optional on every machine, CI included (no
registry ships it), so a missing binary skips with its reason instead of failing: this suite does
not use ``tests.conftest.require`` on purpose.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chaos.toxiproxy import EmbeddedToxiproxy
from live.common.sockets import free_port
from live.supervisor.processes import terminate
from tests.live.http import Answer, call

REAL_BINARY = "toxiproxy-server"


@dataclass
class Toxiproxy:
    """A running Toxiproxy server (embedded or real) and shortcuts for its API."""

    kind: str
    url: str

    def api(self, method: str, path: str, body: Any = None, **options: Any) -> Answer:
        return call(method, self.url + path, json_body=body, **options)

    def create(self, name: str, upstream: str, **fields: Any) -> dict[str, Any]:
        answer = self.api(
            "POST", "/proxies", {"name": name, "listen": "127.0.0.1:0", "upstream": upstream, **fields}
        )
        assert answer.status == 201, answer.body
        return answer.body

    def proxy_port(self, name: str, upstream: str) -> int:
        """Create proxy ``name`` to ``upstream`` on a free port; its port."""
        return int(self.create(name, upstream)["listen"].rsplit(":", 1)[1])

    def toxic(self, proxy: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.api("POST", f"/proxies/{proxy}/toxics", body)
        assert answer.status == 200, answer.body
        return answer.body


def _start_real(binary: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [binary, "-host", "127.0.0.1", "-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if call("GET", url + "/version", timeout=1).status == 200:
                return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{binary} did not answer on {url} within 10 s")


@pytest.fixture(params=["embedded", "real"])
def toxiproxy(request: pytest.FixtureRequest) -> Iterator[Toxiproxy]:
    """A fresh Toxiproxy server on 127.0.0.1 for one test."""
    if request.param == "embedded":
        with EmbeddedToxiproxy() as server:
            yield Toxiproxy("embedded", server.url)
        return
    binary = shutil.which(REAL_BINARY)
    if binary is None:
        pytest.skip(f"{REAL_BINARY} is not on PATH: this check ran against the embedded server only")
    process, url = _start_real(binary)
    try:
        yield Toxiproxy("real", url)
    finally:
        terminate(process)
