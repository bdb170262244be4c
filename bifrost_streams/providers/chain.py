"""The model router the settings ask for: BIFROST_AI_SOURCE's provider first, then
BIFROST_FALLBACK's, each built from its own settings."""
from __future__ import annotations

from typing import Callable, Dict, Iterable

from ..config import Settings
from ..redaction import Rule
from .base import Provider
from .bedrock import BedrockProvider
from .ollama import OllamaProvider
from .router import ModelRouter
from .rules import RulesProvider


def _builders(settings: Settings, rules: Iterable[Rule]) -> Dict[str, Callable[[], Provider]]:
    return {
        "ollama": lambda: OllamaProvider(settings.ollama_url, settings.ollama_model,
                                         settings.ollama_timeout),
        # The cloud provider redacts with the same rules itself, even with BIFROST_REDACTION=off.
        "bedrock": lambda: BedrockProvider(settings.bedrock_model, settings.bedrock_region,
                                           settings.bedrock_timeout, rules,
                                           settings.bedrock_endpoint_url, settings.concurrency),
        "rules": lambda: RulesProvider(settings.rules_file),
    }


def build_router(settings: Settings, rules: Iterable[Rule]) -> ModelRouter:
    builders = _builders(settings, list(rules))
    return ModelRouter([builders[name]() for name in settings.provider_chain],
                       breaker_open_seconds=settings.breaker_open_seconds,
                       allowed_models=settings.allowed_models)
