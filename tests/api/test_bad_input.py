"""Hostile or careless request bodies: each gets a 4xx JSON error naming the field or cause, never a 500."""

from __future__ import annotations

import httpx
import jsonschema
import pytest

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"problem": "1+1", "temperature": NaN}', "temperature"),
        (b'{"problem": "1+1", "top_p": Infinity}', "top_p"),
        (b'{"problem": "1+1", "temperature": 1e999}', "temperature"),
        (b'{"problem": "\\ud800 lone surrogate"}', "problem"),
        (b'{"problem": "1+1", "\\udfff": 1}', "body"),
    ],
)
def test_values_json_cannot_echo_back_get_422_naming_the_field(client: httpx.Client, raw: bytes, field: str):
    r = client.post("/solve", content=raw, headers=JSON)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"]["code"] == "invalid_request"
    assert body["error"]["message"].startswith(f"{field}: "), body
    assert body["detail"][0]["loc"][-1] == field


@pytest.mark.parametrize(
    ("raw", "cause"),
    [
        (b'{"problem": "\xff\xfe"}', "not valid UTF-8"),
        (b'{"problem": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "nested too deeply"),
        (b'{"problem": "1+1", "samples": 1' + b"0" * 5000 + b"}", "too many digits"),
        (b'{"problem": ', "not valid JSON: Expecting value at character 12"),
    ],
)
def test_unparsable_bodies_name_the_cause(client: httpx.Client, raw: bytes, cause: str):
    r = client.post("/homework", content=raw, headers=JSON)
    assert r.status_code in (400, 422), r.text
    assert cause in r.json()["error"]["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/csv"])
def test_a_body_not_sent_as_json_gets_415_naming_the_content_type(client: httpx.Client, content_type: str):
    r = client.post("/solve", content=b'{"problem": "1+1"}', headers={"content-type": content_type})
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "unsupported_media_type"
    assert content_type in r.json()["error"]["message"] and "application/json" in r.json()["error"]["message"]


def test_an_error_on_every_row_of_a_big_set_answers_briefly(client: httpx.Client):
    bad = [{"student": "", "problem_id": "p", "answer": "x" * 2000} for _ in range(2000)]
    r = client.post("/homework", json={"problems": [{"id": "p", "reference": "1"}], "submissions": bad})
    assert r.status_code == 422
    assert len(r.content) < 20_000  # neither every error nor the body echoed back
    assert "submissions.0.student" in r.json()["error"]["message"]
    assert "more)" in r.json()["error"]["message"]


def test_unknown_routes_and_methods_answer_in_the_error_shape(client: httpx.Client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.put("/solve")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["allow"] == "POST"


def test_a_405_names_every_method_of_the_path(client: httpx.Client):
    # Starlette's own 405 lists only the first route of the path (`Allow: POST` for /homework)
    r = client.request("OPTIONS", "/homework")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"
    assert "allowed: GET, POST" in r.json()["error"]["message"]
    r = client.put("/homework/some-job")
    assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET"


def test_a_very_long_job_id_is_not_echoed_back(client: httpx.Client):
    r = client.get("/homework/" + "a" * 5000)
    assert r.status_code == 404 and r.json()["error"]["code"] == "job_not_found"
    assert len(r.content) < 300


def test_the_published_schema_refuses_what_the_service_refuses(client: httpx.Client):
    # schemathesis found bodies and keys the schema allowed and the service refused
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/homework"]["post"]
    body_schema = post["requestBody"]["content"]["application/json"]["schema"]
    body_valid = jsonschema.Draft202012Validator({**body_schema, "components": spec["components"]}).is_valid
    submissions = [{"student": "ann", "problem_id": "p", "answer": "1"}]
    for problem in ({"id": "p"}, {"id": "p", "reference": " "}, {"id": "p", "reference": None}):
        body = {"problems": [problem], "submissions": submissions}
        assert client.post("/homework", json=body).status_code == 422
        assert not body_valid(body), problem
    assert body_valid({"problems": [{"id": "p", "reference": "1"}], "submissions": submissions})
    assert body_valid({"problems": [{"id": "p", "problem": "1+0?"}], "submissions": submissions})
    key_valid = jsonschema.Draft202012Validator(post["parameters"][0]["schema"]).is_valid
    body = {"problems": [{"id": "p", "reference": "1"}], "submissions": submissions}
    for key in ("", "k" * 256):
        assert client.post("/homework", json=body, headers={"Idempotency-Key": key}).status_code == 400
        assert not key_valid(key)
    assert key_valid("3f2c9a7e-1b4d-4c8e-9f00-5a6b7c8d9e0f")


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        *(("/solve", "stream", value) for value in (0, 1, "yes", "false")),
        *(("/homework", "strict", value) for value in (0, 1, "yes", "false")),
        ("/solve", "seed", False),
        ("/solve", "samples", "4"),
        ("/solve", "temperature", "0.5"),
        ("/solve", "problem", 7),
    ],
)
def test_a_field_takes_its_json_type_not_a_look_alike(client: httpx.Client, path: str, field: str, value):
    # the schema's types; pydantic's lax mode took 0 and 'false' for booleans, false and '4' for numbers
    body = {"problem": "What is 1 + 1?", field: value}
    if path == "/homework":
        body = {"problems": [{"id": "p", "reference": "2"}], "submissions": [], field: value}
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"].startswith(f"{field}: ")
