"""`Idempotency-Key` on POST /homework, on a real service: a retried submission gets its first job back."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from app.grading import HomeworkSet, SqliteJobStore
from tests.conftest import Proc


def _set(answer: str = "2") -> dict:
    return {
        "title": "Retried",
        "problems": [{"id": "p", "reference": "2"}],
        "submissions": [{"student": "ann", "problem_id": "p", "answer": answer}],
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("idempotency") / "jobs.sqlite3"


@pytest.fixture(scope="module")
def service(start_replay, start_service, store: Path) -> Iterator[Proc]:
    proc = start_service(start_replay().url, grading_store_path=store, checker_workers=1)
    yield proc
    proc.stop()


def _jobs(service: Proc) -> int:
    return len(httpx.get(f"{service.url}/homework", params={"limit": 500}, timeout=10).json())


def _post(service: Proc, body: dict | str, key: str | bytes | None) -> httpx.Response:
    headers = {"content-type": "application/json"} | ({"Idempotency-Key": key} if key is not None else {})
    content = body if isinstance(body, str) else json.dumps(body)
    return httpx.post(f"{service.url}/homework", content=content, headers=headers, timeout=30)


def test_a_retry_with_the_same_key_and_set_gets_the_first_job(service: Proc) -> None:
    before = _jobs(service)
    first = _post(service, _set(), "retry-1")
    assert first.status_code == 202, first.text
    # the same set, written with other spacing and key order, as another client library would send it
    again = _post(service, json.dumps(_set(), indent=2, sort_keys=True), "retry-1")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert _jobs(service) == before + 1
    assert _post(service, _set(), None).status_code == 202  # without the header, every post is a new job
    assert _jobs(service) == before + 2


def test_concurrent_retries_with_one_key_make_one_job(service: Proc) -> None:
    before = _jobs(service)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: _post(service, _set("3"), "storm-1"), range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [202]
    assert len({a.json()["id"] for a in answers}) == 1
    assert _jobs(service) == before + 1


def test_the_same_key_with_another_set_is_refused_naming_the_header(service: Proc) -> None:
    first = _post(service, _set("4"), "reused-1")
    assert first.status_code == 202
    before = _jobs(service)
    other = _post(service, _set("5"), "reused-1")
    assert other.status_code == 422, other.text
    error = other.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in error["message"] and first.json()["id"] in error["message"]
    assert _jobs(service) == before


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "empty"),
        ("k" * 256, "at most 255"),
        ("tab\tinside", "printable ASCII"),
        ("clé".encode(), "printable"),
    ],
)
def test_malformed_keys_get_400_naming_the_header(service: Proc, key: str | bytes, why: str) -> None:
    before = _jobs(service)
    refused = _post(service, _set(), key)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "invalid_idempotency_key"
    assert "Idempotency-Key" in refused.json()["error"]["message"]
    assert why in refused.json()["error"]["message"]
    assert _jobs(service) == before


def test_a_key_sent_twice_gets_400(service: Proc) -> None:
    before = _jobs(service)
    headers = [("Idempotency-Key", "twice-1"), ("Idempotency-Key", "twice-2")]
    refused = httpx.post(f"{service.url}/homework", json=_set(), headers=headers, timeout=30)
    assert refused.status_code == 400, refused.text
    assert "Idempotency-Key header was sent 2 times" in refused.json()["error"]["message"]
    assert _jobs(service) == before


def test_a_control_character_in_the_key_gets_400(service: Proc) -> None:
    """httpx will not send such a header; a raw client can."""
    body = json.dumps(_set()).encode()
    url = urlsplit(service.url)
    request = (
        b"POST /homework HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Idempotency-Key: a\x7fb\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body
    with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


def test_a_key_outlives_a_restart(start_replay, start_service, tmp_path: Path) -> None:
    store = tmp_path / "jobs.sqlite3"
    replay = start_replay()
    first = start_service(replay.url, grading_store_path=store, checker_workers=1)
    made = _post(first, _set("6"), "across-restart")
    assert made.status_code == 202
    first.stop()
    second = start_service(replay.url, grading_store_path=store, checker_workers=1)
    again = _post(second, _set("6"), "across-restart")
    assert (again.status_code, again.json()["id"]) == (200, made.json()["id"])
    assert _post(second, _set("7"), "across-restart").status_code == 422
    second.stop()


_OLD_SCHEMA = """
CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, title TEXT, spec TEXT NOT NULL,
    problems_total INTEGER NOT NULL, submissions_total INTEGER NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, error TEXT);
INSERT INTO jobs VALUES ('old', 'running', NULL, '{}', 1, 1, 1.0, 1.0, NULL);
"""


def test_a_store_an_older_version_made_gains_the_key_columns(tmp_path: Path) -> None:
    """Two services upgraded at once open the old file together: each adds the columns or finds them."""
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_OLD_SCHEMA)
    with ThreadPoolExecutor(2) as pool:
        stores = list(pool.map(lambda _: SqliteJobStore(path), range(2)))
    assert stores[0].unfinished() == ["old"]
    homework = HomeworkSet.model_validate(_set())
    info, created = stores[0].create_keyed(homework, "k")
    assert created and stores[1].create_keyed(homework, "k") == (stores[1].info(info.id), False)
    for store in stores:
        store.close()
