"""The config service over real HTTP: token-guarded writes, If-Match, and the long-poll watch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from live.common.server import running
from live.config.app import create_app
from live.config.store import ConfigStore
from tests.live.http import Answer, call

pytestmark = pytest.mark.live

TOKEN = "config-s3cret"
WRITER = {"Authorization": f"Bearer {TOKEN}"}
ENVIRONMENT = {"gateway.rate_limit.rate": 500}


def service(path: Path, poll_interval: float = 0.5) -> object:
    return create_app(ConfigStore(path, ENVIRONMENT), TOKEN, environment="test", poll_interval=poll_interval)


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with running(service(tmp_path / "config.sqlite3")) as base:
        yield base


def put(url: str, key: str, value: object, **headers: str) -> Answer:
    return call("PUT", f"{url}/config/{key}", json_body=value, headers={**WRITER, **headers})


def test_writes_need_the_config_token_reads_do_not(url: str) -> None:
    anonymous = call("PUT", f"{url}/config/gateway.maintenance", json_body=True)
    assert anonymous.status == 401
    assert anonymous.headers.get("WWW-Authenticate") == "Bearer"
    wrong = call("PUT", f"{url}/config/a.b", json_body=1, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 403
    assert wrong.body["error"] == "wrong config token"
    assert call("DELETE", f"{url}/config/a.b").status == 401
    assert call("GET", f"{url}/config/gateway.maintenance").status == 404  # nothing was written
    read = call("GET", f"{url}/config/gateway.rate_limit.rate")
    assert read.status == 200
    assert read.body["value"] == 500
    assert read.headers.get("ETag") == '"0"'


def test_put_get_list_and_unset_with_versions(url: str) -> None:
    written = put(url, "gateway.rate_limit.rate", 2)
    assert written.status == 200
    assert written.body == {
        "key": "gateway.rate_limit.rate",
        "value": 2,
        "version": 1,
        "revision": 1,
        "source": "runtime",
    }
    put(url, "orders.flag", {"on": True})
    listed = call("GET", f"{url}/config?prefix=gateway.").body
    assert listed["version"] == 2
    assert listed["environment"] == "test"
    assert [(e["key"], e["value"]) for e in listed["entries"]] == [("gateway.rate_limit.rate", 2)]
    back = call("DELETE", f"{url}/config/gateway.rate_limit.rate", headers=WRITER)
    assert back.status == 200
    assert (back.body["value"], back.body["source"]) == (500, "environment")
    assert call("DELETE", f"{url}/config/gateway.rate_limit.rate", headers=WRITER).status == 404


def test_if_match_refuses_a_stale_write_with_409(url: str) -> None:
    assert put(url, "a.b", 1, **{"If-Match": "0"}).status == 200
    stale = put(url, "a.b", 2, **{"If-Match": "0"})
    assert stale.status == 409
    assert stale.body["version"] == 1
    assert call("GET", f"{url}/config/a.b").body["value"] == 1
    assert put(url, "a.b", 2, **{"If-Match": '"1"'}).status == 200
    assert put(url, "a.b", 3, **{"If-Match": "latest"}).status == 400


@pytest.mark.parametrize(
    ("key", "body", "status"),
    [
        ("Bad.Key", b"1", 422),
        ("a..b", b"1", 422),
        ("a.b", b"{not json", 422),
        ("a.b", b"NaN", 422),
        ("watch", b"1", 422),
    ],
)
def test_bad_writes_get_a_clear_4xx(url: str, key: str, body: bytes, status: int) -> None:
    answer = call("PUT", f"{url}/config/{key}", raw=body, headers=WRITER)
    assert answer.status == status
    assert answer.body["error"]


def test_a_value_too_large_is_413(url: str) -> None:
    assert put(url, "a.b", "x" * 70_000).status == 413


def test_a_watch_answers_at_once_when_there_are_changes_already(url: str) -> None:
    put(url, "gateway.a", 1)
    put(url, "other.b", 2)
    started = time.monotonic()
    answer = call("GET", f"{url}/config/watch?prefix=gateway.&after=0&timeout=10")
    assert time.monotonic() - started < 1.0
    assert answer.body["version"] == 2
    assert [c["key"] for c in answer.body["changes"]] == ["gateway.a"]


def test_a_watch_is_held_until_a_write_under_its_prefix(url: str) -> None:
    answers: list[Answer] = []
    watching = threading.Thread(
        target=lambda: answers.append(call("GET", f"{url}/config/watch?prefix=gateway.&after=0&timeout=10")),
    )
    started = time.monotonic()
    watching.start()
    time.sleep(0.5)
    put(url, "orders.x", 1)  # another prefix: the watch goes on waiting
    time.sleep(0.5)
    assert not answers
    written = time.monotonic()
    put(url, "gateway.maintenance", True)
    watching.join(timeout=5)
    assert answers
    assert answers[0].status == 200
    assert time.monotonic() - written < 0.5  # woken by the write, not by its poll
    assert time.monotonic() - started < 5
    assert [(c["key"], c["value"]) for c in answers[0].body["changes"]] == [("gateway.maintenance", True)]
    assert answers[0].body["version"] == 2


def test_a_watch_without_writes_answers_empty_at_its_timeout(url: str) -> None:
    started = time.monotonic()
    answer = call("GET", f"{url}/config/watch?prefix=gateway.&after=0&timeout=1")
    elapsed = time.monotonic() - started
    assert answer.status == 200
    assert answer.body == {"version": 0, "changes": []}
    assert 0.9 <= elapsed < 2.0
    assert call("GET", f"{url}/config/watch?timeout=61").status == 422
    assert call("GET", f"{url}/config/watch?after={2**70}").status == 422


def test_a_watch_sees_a_write_made_through_another_replica(tmp_path: Path) -> None:
    path = tmp_path / "config.sqlite3"
    with running(service(path, poll_interval=0.1)) as one, running(service(path, poll_interval=0.1)) as two:
        answers: list[Answer] = []
        watching = threading.Thread(
            target=lambda: answers.append(call("GET", f"{one}/config/watch?after=0&timeout=10")),
        )
        watching.start()
        time.sleep(0.3)
        written = time.monotonic()
        put(two, "a.b", 7)
        watching.join(timeout=5)
        assert answers
        assert [c["value"] for c in answers[0].body["changes"]] == [7]
        assert time.monotonic() - written < 1.0
