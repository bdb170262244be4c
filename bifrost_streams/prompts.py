"""Versioned prompt templates kept as files in the package (prompt_templates/).

The version is part of the result-cache key: a new template never serves an old analysis.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

from .families import FAMILIES
from .providers.base import Prompt

# v2: the answer names its failure family (category).
PROMPT_VERSION = "v2"
LANGUAGES = {"en": "English", "ko": "Korean"}
# A prompt longer than this is cut: a small model loses the plot and the head holds the error.
MAX_LOG_CHARS = 8000


@lru_cache(maxsize=None)
def _families() -> str:
    return "\n".join(f"- {family}: {meaning}" for family, meaning in FAMILIES.items())


@lru_cache(maxsize=None)
def _template(version: str, part: str) -> str:
    return resources.files("bifrost_streams").joinpath(
        f"prompt_templates/{version}.{part}.txt").read_text(encoding="utf-8")


def build_prompt(log_text: str, *, service: str | None, environment: str | None,
                 priority: str | None, language: str = "en",
                 version: str = PROMPT_VERSION) -> Prompt:
    """log_text must already be redacted."""
    if len(log_text) > MAX_LOG_CHARS:
        log_text = log_text[:MAX_LOG_CHARS] + "\n[... truncated]"
    return Prompt(
        system=_template(version, "system").format(language=LANGUAGES[language],
                                                   families=_families()),
        user=_template(version, "user").format(service=service or "unknown",
                                               environment=environment or "unknown",
                                               priority=priority or "unknown", log=log_text),
        version=version,
        log=log_text,
        priority=priority or "",
    )
