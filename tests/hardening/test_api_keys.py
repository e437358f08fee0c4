"""Optional API keys: Bearer or X-API-Key; health probes stay open; keys never reach the logs."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Proc, StartReplay, StartService

KEYS = ("alpha-key-1234567890", "beta-key-0987654321")
WRONG = "gamma-wrong-key-5555"
PROBLEM = {"problem": "What is the sum of the squares of the first 10 positive integers?"}


@pytest.fixture(scope="module")
def keyed(start_service: StartService, start_replay: StartReplay) -> Proc:
    return start_service(start_replay().url, api_keys=",".join(KEYS))


def test_missing_key_gives_401_naming_both_headers(keyed: Proc):
    r = httpx.post(f"{keyed.url}/solve", json=PROBLEM)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_api_key"
    assert "Authorization: Bearer" in r.json()["error"]["message"] and "X-API-Key" in r.text
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_wrong_key_gives_401_without_echoing_it(keyed: Proc):
    for headers in ({"Authorization": f"Bearer {WRONG}"}, {"X-API-Key": WRONG}, {"Authorization": WRONG}):
        r = httpx.post(f"{keyed.url}/solve", json=PROBLEM, headers=headers)
        assert r.status_code == 401, headers
        assert WRONG not in r.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {KEYS[0]}"},
        {"Authorization": f"bearer {KEYS[1]}"},
        {"X-API-Key": KEYS[1]},
    ],
    ids=["bearer", "bearer-lowercase", "x-api-key"],
)
def test_valid_keys_are_accepted(keyed: Proc, headers: dict[str, str]):
    r = httpx.post(f"{keyed.url}/solve", json=PROBLEM, headers=headers, timeout=60)
    assert r.status_code == 200 and r.json()["answer"] == "385"


def test_probes_and_docs_stay_open_but_data_routes_do_not(keyed: Proc):
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs", "/"):
        assert httpx.get(f"{keyed.url}{path}", timeout=15).status_code == 200, path
    for path in ("/metrics", "/homework", "/homework/abc"):
        assert httpx.get(f"{keyed.url}{path}").status_code == 401, path
    ok = httpx.get(f"{keyed.url}/metrics", headers={"X-API-Key": KEYS[0]})
    assert ok.status_code == 200 and "tirsolve_http_requests_total" in ok.text


def test_keys_are_never_logged(keyed: Proc):
    # a key in the query string is not accepted, and the access log drops query strings
    assert httpx.get(f"{keyed.url}/metrics?api_key={KEYS[0]}").status_code == 401
    httpx.post(f"{keyed.url}/solve", json=PROBLEM, headers={"X-API-Key": WRONG})
    httpx.post(f"{keyed.url}/solve", json=PROBLEM, headers={"Authorization": f"Bearer {KEYS[0]}"}, timeout=60)
    log = keyed.log.read_text(errors="replace")
    assert '"status": 401' in log and '"route": "/metrics"' in log  # the requests were logged ...
    for secret in (*KEYS, WRONG):
        assert secret not in log  # ... without their keys


def test_under_a_root_path_the_same_routes_stay_open(start_service: StartService, start_replay: StartReplay):
    # behind a proxy that strips /tirsolve: uvicorn puts it back in front of every path, the routes stay
    service = start_service(start_replay().url, api_keys=KEYS[0], root_path="/tirsolve")
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs", "/", "/static/css/site.css"):
        assert httpx.get(f"{service.url}{path}", timeout=15).status_code == 200, path
    assert "/tirsolve/openapi.json" in httpx.get(f"{service.url}/docs").text  # the browser asks the proxy
    for path in ("/metrics", "/homework", "/homework/abc"):
        assert httpx.get(f"{service.url}{path}").status_code == 401, path
    r = httpx.post(f"{service.url}/solve", json=PROBLEM, headers={"X-API-Key": KEYS[0]}, timeout=60)
    assert r.status_code == 200 and r.json()["answer"] == "385"
    service.stop()
