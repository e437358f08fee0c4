"""The real llama.cpp `llama-server` fixture.

Where it is not installed the tests skip locally, but fail under CI, which must have built it
(`make test` does).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.deploy.llama import LlamaServer, installed, llama_server


@pytest.fixture(scope="session")
def llama() -> Iterator[LlamaServer]:
    found = installed()
    if found is None:
        message = "llama-server or the SmolLM2 model is not installed (run `make llama-server`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with llama_server(*found) as server:
        yield server
