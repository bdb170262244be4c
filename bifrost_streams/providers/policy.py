"""A request's model_policy, {"source": "local"|"cloud", "model": "..."}, turned into the order
in which providers are asked.

The contract leaves model_policy free-form, so nothing in it fails a request: a part that
cannot be honoured is ignored and the result says why. A request can only reorder the
providers this deployment enabled; it cannot send a log to the cloud where the cloud is off,
nor name a model this deployment does not allow (a model is a cost: BIFROST_ALLOWED_MODELS
and the configured models are the ones a request may pick).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import AbstractSet, Any, Dict, List, Optional, Sequence, Tuple

from ..config import SOURCE_PROVIDERS

# Model names and Bedrock model ids: "mistral", "llama3.1:8b", "anthropic.claude-3-...:0".
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
SHOWN_CHARS = 200


@dataclass(frozen=True)
class Route:
    # (provider name, model); model None means the provider's configured one.
    steps: Tuple[Tuple[str, Optional[str]], ...]
    # The request's model_policy and the parts of it that were ignored (with why), for the
    # result; None when it had none.
    note: Optional[Dict[str, Any]] = None


def _shown(value: Any) -> Any:
    """A policy value as the result repeats it: a short scalar as it is, else its kind (the
    request is free-form: a megabyte or a deep object there is not worth repeating)."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "…"
    return f"<{type(value).__name__}>"


def route(policy: Optional[Dict[str, Any]], order: Sequence[str],
          allowed: Optional[AbstractSet[str]] = None) -> Route:
    """The providers in order; `allowed`: the models a request may name (None: any)."""
    default = Route(tuple((name, None) for name in order))
    if not policy:
        return default
    source, model = policy.get("source"), policy.get("model")
    ignored: List[str] = []
    names = list(order)
    if source is not None:
        wanted = SOURCE_PROVIDERS.get(source) if isinstance(source, str) else None
        if wanted is None:
            ignored.append(f"source must be one of {', '.join(SOURCE_PROVIDERS)}")
        elif wanted not in names:
            ignored.append(f"source {source!r} is not enabled in this deployment")
        else:
            names.remove(wanted)
            names.insert(0, wanted)
    first_model: Optional[str] = None
    if model is not None:
        if not isinstance(model, str) or not _MODEL_NAME.match(model):
            ignored.append("model must be a model name (letters, digits, . _ : / @ + -)")
        elif allowed is not None and model not in allowed:
            ignored.append(f"model {model!r} is not allowed in this deployment "
                           f"(BIFROST_ALLOWED_MODELS)")
        elif names[0] == "rules":
            ignored.append("the first provider here is the rule set, which has no models")
        else:
            first_model = model
    steps = tuple((name, first_model if index == 0 else None)
                  for index, name in enumerate(names))
    return Route(steps, {"source": _shown(source), "model": _shown(model), "ignored": ignored})
