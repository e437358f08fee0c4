"""POST /solve over real HTTP: the service and the replay model server are separate processes on loopback,
code runs in the real sandbox. Trajectories come from tests/data/tir_trajectories.jsonl."""

from __future__ import annotations

import itertools
import json

import httpx
import pytest

from tests.conftest import Proc, StartReplay, StartService

FIX = "What is the sum of the squares of the first 10 positive integers?"
CARRY = "Solve x^2 - 5x + 6 = 0 and report the product of the roots plus their sum."
ENDLESS = "Keep exploring: what is the most interesting square number?"
AFTER_ERROR = "What is 7 divided by 0 plus 1?"
BOXED_IN_OUTPUT = "Print a boxed number for me, please."
LONG_OUTPUT = "List the first 3000 positive integers and count them."
COT = "Simplify 2/4 and write it as a LaTeX fraction."
HALF = "What is one half, as a number?"
LOOP = "Loop forever, then say 5."


def steps_of(body: dict, kind: str, sample: int = 0) -> list[dict]:
    return [s for s in body["samples"][sample]["steps"] if s["type"] == kind]


def test_failed_code_then_fixed(client: httpx.Client):
    r = client.post("/solve", json={"problem": FIX})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"] == "385" and body["status"] == "answered" and body["confidence"] == 1.0
    sample = body["samples"][0]
    assert sample["finish"] == "answered" and sample["rounds"] == 2
    outputs = steps_of(body, "output")
    assert [o["status"] for o in outputs] == ["error", "ok"]
    assert "SyntaxError" in outputs[0]["content"] and outputs[1]["content"] == "385"  # real execution
    assert "/work" not in outputs[0]["content"]  # no host paths go back to the model
    assert sample["answer_after_error"] is False  # the fix ran cleanly before the answer
    assert body["timing_ms"]["sandbox"] > 0 and body["timing_ms"]["llm"] > 0
    assert sample["usage"]["calls"] == 3 and body["model"] == "replay"


def test_second_block_uses_variables_of_the_first(client: httpx.Client):
    body = client.post("/solve", json={"problem": CARRY}).json()
    outputs = steps_of(body, "output")
    assert [o["content"] for o in outputs] == ["[2, 3]", "11"]  # `roots` survived between blocks
    assert body["answer"] == "11"


def test_max_rounds_stops_the_trajectory(client: httpx.Client):
    body = client.post("/solve", json={"problem": ENDLESS, "max_rounds": 2}).json()
    sample = body["samples"][0]
    assert sample["finish"] == "max_rounds" and sample["rounds"] == 2
    assert body["answer"] is None and body["status"] == "no_answer"
    assert len(steps_of(body, "code")) == 3  # the third block was written but not run
    default = client.post("/solve", json={"problem": ENDLESS}).json()["samples"][0]
    assert default["rounds"] == 4 and default["finish"] == "max_rounds"  # the service default


def test_answer_after_failed_execution_is_flagged(client: httpx.Client):
    body = client.post("/solve", json={"problem": AFTER_ERROR}).json()
    assert body["answer"] == r"\text{undefined}"
    assert body["samples"][0]["answer_after_error"] is True
    assert "ZeroDivisionError" in steps_of(body, "output")[0]["content"]


def test_boxed_text_in_an_output_block_is_not_an_answer(client: httpx.Client):
    body = client.post("/solve", json={"problem": BOXED_IN_OUTPUT}).json()
    assert steps_of(body, "output")[0]["content"] == r"\boxed{99}"
    assert body["answer"] is None and body["samples"][0]["finish"] == "stop_no_answer"


def test_long_output_is_cut_head_and_tail(client: httpx.Client):
    body = client.post("/solve", json={"problem": LONG_OUTPUT}).json()
    out = steps_of(body, "output")[0]
    assert out["truncated"] is True and "characters omitted" in out["content"]
    assert out["content"].startswith("[1, 2, 3") and out["content"].endswith("2999, 3000]")
    assert len(out["content"]) < 1300
    assert body["answer"] == "3000"


def test_sandbox_timeout_goes_back_to_the_model_and_a_fresh_session_follows(client: httpx.Client):
    body = client.post("/solve", json={"problem": LOOP}).json()
    first, second = steps_of(body, "output")
    assert first["status"] == "timeout" and "TimeoutError" in first["content"]
    assert second["status"] == "ok" and second["content"] == "5"  # not "killed": a new interpreter ran it
    assert body["answer"] == "5" and body["samples"][0]["answer_after_error"] is False


def test_sandbox_memory_limit_goes_back_to_the_model(client: httpx.Client):
    body = client.post("/solve", json={"problem": "Allocate a huge buffer, then say 3."}).json()
    out = steps_of(body, "output")[0]
    assert out["status"] in ("memory", "error") and "MemoryError" in out["content"]
    assert body["answer"] == "3" and body["samples"][0]["answer_after_error"] is True


def test_cot_mode_uses_the_cot_prompt_and_runs_no_code(client: httpx.Client):
    body = client.post("/solve", json={"problem": COT, "mode": "cot"}).json()
    assert body["answer"] == r"\frac{1}{2}"  # nested braces
    assert steps_of(body, "output") == [] and body["timing_ms"]["sandbox"] == 0


def test_self_consistency_votes_by_equivalence(client: httpx.Client):
    body = client.post("/solve", json={"problem": HALF, "samples": 3, "seed": 0}).json()
    assert [s["seed"] for s in body["samples"]] == [0, 1, 2]
    assert [s["answer"] for s in body["samples"]] == [r"\frac{1}{2}", "0.5", "3"]
    assert body["answer"] == r"\frac{1}{2}"
    assert body["confidence"] == pytest.approx(2 / 3)
    assert body["votes"] == [{"answer": r"\frac{1}{2}", "count": 2}, {"answer": "3", "count": 1}]


def test_sse_stream_sends_deltas_code_outputs_and_the_final_body(client: httpx.Client):
    events: list[tuple[str, dict]] = []
    with client.stream("POST", "/solve", json={"problem": FIX, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    kinds = [n for n, _ in events]
    assert kinds[-1] == "final" and kinds.count("code") == 2 and kinds.count("output") == 2
    assert kinds.index("output") < len(kinds) - 1 and "text" in kinds
    text = "".join(d["delta"] for n, d in events if n == "text")
    assert "Let me fix the code." in text and r"\boxed{385}" in text
    final = events[-1][1]
    plain = client.post("/solve", json={"problem": FIX}).json()
    assert final["answer"] == plain["answer"] == "385"

    def strip(b: dict) -> list:
        return [
            [{k: v for k, v in st.items() if k != "duration_ms"} for st in s["steps"]] for s in b["samples"]
        ]

    assert strip(final) == strip(plain)


def test_accept_header_also_selects_sse(client: httpx.Client):
    r = client.post("/solve", json={"problem": COT, "mode": "cot"}, headers={"Accept": "text/event-stream"})
    assert r.headers["content-type"].startswith("text/event-stream") and "event: final" in r.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "problem"),
        ({"problem": ""}, "problem"),
        ({"problem": " \n\t"}, "problem"),
        ({"problem": "x" * 20_001}, "problem"),
        ({"problem": "1+1", "samples": 0}, "samples"),
        ({"problem": "1+1", "samples": 33}, "samples"),
        ({"problem": "1+1", "mode": "magic"}, "mode"),
        ({"problem": "1+1", "max_rounds": 17}, "max_rounds"),
        ({"problem": "1+1", "temperature": -1}, "temperature"),
        ({"problem": "1+1", "top_p": 0}, "top_p"),
        ({"problem": "1+1", "problme": "typo"}, "problme"),
    ],
)
def test_invalid_input_gives_422_naming_the_field(client: httpx.Client, body: dict, field: str):
    r = client.post("/solve", json=body)
    assert r.status_code == 422
    assert any(field in err["loc"] for err in r.json()["detail"]), r.text


def test_malformed_json_body_gives_422(client: httpx.Client):
    r = client.post("/solve", content=b'{"problem": ', headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_oversized_body_gives_413(client: httpx.Client):
    r = client.post("/solve", json={"problem": "x" * 300_000})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: the limit holds for streamed bodies too
        yield b'{"problem": "'
        for _ in range(40):
            yield b"x" * 10_000
        yield b'"}'

    r = client.post("/solve", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_unknown_problem_is_a_model_rejection_not_a_crash(client: httpx.Client):
    r = client.post("/solve", json={"problem": "A problem the replay server has never seen."})
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_rejected"


def test_health_ready_and_openapi(client: httpx.Client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    report = ready.json()
    assert report["model"]["ok"] and report["model"]["serves_model"]
    sandbox = report["sandbox"]
    assert sandbox["ok"] and sandbox["run"] == "ok" and sandbox["safe"] is True
    assert sandbox["layers"]["seccomp"]["active"] is True
    schema = client.get("/openapi.json").json()
    assert "/solve" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_context_budget_ends_the_trajectory(tmp_path, start_replay: StartReplay, start_service: StartService):
    """A trajectory longer than the 4,096-token context: we stop with `length` and never overrun."""
    prose = " ".join(f"step{i} reasoning about the problem carefully" for i in range(200))  # ~1,000 tokens
    traj = "".join(f"{prose}\n```python\nprint({i})\n```\n```output\n{i}\n```\n" for i in range(8))
    problem = "A very long deliberation about nothing in particular."
    f = tmp_path / "long.jsonl"
    f.write_text(json.dumps({"problem": problem, "trajectory": traj + r"So $\boxed{1}$."}) + "\n")
    replay: Proc = start_replay(f, extra=["--context-length", "4096"])
    service = start_service(replay.url, max_rounds=16, max_tokens=4096)
    r = httpx.post(f"{service.url}/solve", json={"problem": problem}, timeout=60)
    assert r.status_code == 200, r.text  # the replay server would answer 400 had we asked past the context
    sample = r.json()["samples"][0]
    assert sample["finish"] == "length" and r.json()["answer"] is None
    assert 2 <= sample["rounds"] < 8
    assert sample["usage"]["prompt_tokens"] <= 4096


def test_a_problem_too_long_for_the_context_is_refused_naming_the_setting(
    start_replay: StartReplay, start_service: StartService
):
    replay: Proc = start_replay()
    service = start_service(replay.url)
    problem = "Add these numbers: " + " + ".join(str(n) for n in range(100_000, 101_500))  # ~9,000 tokens
    r = httpx.post(f"{service.url}/solve", json={"problem": problem}, timeout=60)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "problem_too_long" and "TIRSOLVE_CONTEXT_LENGTH" in error["message"]
    assert httpx.post(f"{service.url}/solve", json={"problem": FIX}, timeout=60).status_code == 200


def test_chat_mode_against_a_prefill_echoing_server(start_replay: StartReplay, start_service: StartService):
    echoing = start_replay(extra=["--echo-prefill"])
    service = start_service(echoing.url, api_mode="chat", max_samples=2)
    body = httpx.post(f"{service.url}/solve", json={"problem": CARRY}, timeout=60).json()
    too_many = httpx.post(f"{service.url}/solve", json={"problem": CARRY, "samples": 3}, timeout=60)
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["body", "samples"]
    schema = httpx.get(f"{service.url}/openapi.json").json()  # the published limit is this service's
    assert schema["components"]["schemas"]["SolveBody"]["properties"]["samples"]["maximum"] == 2
    assert body["answer"] == "11"
    assert [o["content"] for o in steps_of(body, "output")] == ["[2, 3]", "11"]


def test_recorded_trajectories_replay_to_the_same_answers(
    tmp_path, replay: Proc, start_replay: StartReplay, start_service: StartService
):
    log = tmp_path / "recorded.jsonl"
    recording = start_service(replay.url, trajectory_log=log)
    first = httpx.post(f"{recording.url}/solve", json={"problem": CARRY}, timeout=60).json()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 1 and records[0]["problem"] == CARRY and records[0]["answer"] == "11"
    assert records[0]["trajectory"].count("```output") == 2
    again = start_service(start_replay(log).url)
    second = httpx.post(f"{again.url}/solve", json={"problem": CARRY}, timeout=60).json()
    assert second["answer"] == first["answer"] == "11"
    assert second["samples"][0]["steps"] == [
        {**s, "duration_ms": t["duration_ms"]} if s["type"] == "output" else s
        for s, t in zip(first["samples"][0]["steps"], second["samples"][0]["steps"], strict=True)
    ]


@pytest.mark.parametrize("api_mode", ["completions", "chat"])
def test_requests_grow_byte_for_byte_with_explicit_sampling(
    tmp_path, api_mode: str, start_replay: StartReplay, start_service: StartService
):
    """Each round's prompt is the previous prompt plus the new text (prefix-cache hits); params explicit."""
    log = tmp_path / "requests.jsonl"
    logged = start_replay(extra=["--request-log", str(log)])
    service = start_service(logged.url, api_mode=api_mode, temperature=0.7, top_p=0.9, seed=5)
    body = httpx.post(f"{service.url}/solve", json={"problem": FIX}, timeout=60).json()
    assert body["answer"] == "385"
    reqs = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(reqs) == 3
    for r in reqs:
        assert r["temperature"] == 0.7 and r["top_p"] == 0.9 and r["seed"] == 5 and r["max_tokens"] > 0
        assert r["stop"] == ["```output", "<|im_end|>", "<|endoftext|>"]
    if api_mode == "chat":
        assert reqs[0]["add_generation_prompt"] and [m["role"] for m in reqs[0]["messages"]] == [
            "system",
            "user",
        ]
        assert all(r["continue_final_message"] and not r["add_generation_prompt"] for r in reqs[1:])
        assert all(r["messages"][-1]["role"] == "assistant" for r in reqs[1:])
        prompts = [""] + [r["messages"][-1]["content"] for r in reqs[1:]]
    else:
        prompts = [r["prompt"] for r in reqs]
        assert prompts[0].startswith("<|im_start|>system\nPlease integrate natural language reasoning")
        assert prompts[0].endswith(f"<|im_start|>user\n{FIX}<|im_end|>\n<|im_start|>assistant\n")
    for before, after in itertools.pairwise(prompts):
        assert after.startswith(before) and len(after) > len(before)
    # what went back to the model: the real execution results, fenced exactly as Qwen expects
    assert prompts[1].endswith("SyntaxError: '(' was never closed\n```\n")
    assert prompts[2].endswith("print(total)\n```\n```output\n385\n```\n")
