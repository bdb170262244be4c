"""The deterministic analyser: failure signatures, kept as data, answered without a model.

The answer when no model is there (or a service's model budget is spent). The signatures live
in signatures.yaml beside this module; a user's file (BIFROST_RULES_FILE) of the same form
comes first. The first signature that matches names the failure family. Precision comes
first: a signature is a string that says what failed, so it claims at most 0.6 confidence,
and a text no signature knows is `unknown` at 0.1.

Matching is plain substring tests on the lower-cased text, and RE2 patterns (linear time
whatever the pattern); the text is the prompt's log, already cut to its bounds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from ..families import UNKNOWN, is_valid
from ..redaction.rule import compile_user_pattern
from ..severity import SEVERITIES
from .base import Answer, Prompt

MODEL = "rules-v1"
MAX_CONFIDENCE = 0.6
UNKNOWN_CONFIDENCE = 0.1
_TEXT_LIMITS = {"summary": 600, "root_cause": 1000, "recommendation": 1000}
_MATCHERS = ("any", "all", "none", "pattern")
_KEYS = frozenset(("id", "family", "severity", "confidence") + tuple(_TEXT_LIMITS) + _MATCHERS)


@dataclass(frozen=True)
class Signature:
    id: str
    family: str
    severity: str
    confidence: float
    summary: str
    root_cause: str
    recommendation: str
    any: Tuple[str, ...] = ()
    all: Tuple[str, ...] = ()
    none: Tuple[str, ...] = ()
    pattern: Any = None  # compiled by RE2, case-insensitive

    def matches(self, lowered: str) -> bool:
        """lowered: the log text, lower-cased."""
        return ((not self.any or any(s in lowered for s in self.any))
                and all(s in lowered for s in self.all)
                and not any(s in lowered for s in self.none)
                and (self.pattern is None or self.pattern.search(lowered) is not None))


def _strings(entry: Mapping[str, Any], key: str) -> Tuple[str, ...]:
    value = entry.get(key) or []
    if not isinstance(value, list) or not all(
            isinstance(s, str) and 0 < len(s.strip()) <= 200 for s in value):
        raise ValueError(f"{key} must be a list of strings (1 to 200 characters)")
    return tuple(s.lower() for s in value)


def _signature(entry: Any) -> Signature:
    if not isinstance(entry, Mapping):
        raise ValueError("must be a mapping")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(map(str, unknown))}")
    texts: Dict[str, str] = {}
    for key, limit in _TEXT_LIMITS.items():
        text = entry.get(key)
        if not isinstance(text, str) or not 0 < len(text.strip()) <= limit:
            raise ValueError(f"{key} must be a text of 1 to {limit} characters")
        texts[key] = " ".join(text.split())
    family = entry.get("family")
    if not is_valid(family) or family == UNKNOWN:
        raise ValueError(f"family {family!r} is not a failure family "
                         "(bifrost_streams/families.py)")
    severity = str(entry.get("severity", "")).upper()
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
    confidence = entry.get("confidence", 0.5)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) \
            or not 0 < confidence <= MAX_CONFIDENCE:
        raise ValueError(f"confidence must be a number above 0 and at most {MAX_CONFIDENCE}")
    pattern = entry.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str) or not pattern:
            raise ValueError("pattern must be a non-empty string")
        pattern = compile_user_pattern("(?i)" + pattern)
    any_, all_, none = (_strings(entry, key) for key in ("any", "all", "none"))
    if not (any_ or all_ or pattern is not None):
        raise ValueError("needs any, all or pattern")
    return Signature(id=str(entry["id"]), family=str(family), severity=severity,
                     confidence=round(float(confidence), 2), summary=texts["summary"],
                     root_cause=texts["root_cause"], recommendation=texts["recommendation"],
                     any=any_, all=all_, none=none, pattern=pattern)


def parse_signatures(text: str) -> List[Signature]:
    """The signatures of a rules file's text; ValueError says which one is wrong and why."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not YAML: {exc}") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("signatures"), list):
        raise ValueError("must hold a mapping with a list under 'signatures'")
    signatures: List[Signature] = []
    seen = set()
    for number, entry in enumerate(document["signatures"], 1):
        name = entry.get("id") if isinstance(entry, Mapping) else None
        where = f"signature {number}" + (f" ({name!r})" if name is not None else "")
        if not isinstance(name, str) or not name.replace("_", "").isalnum() \
                or not name.isascii() or len(name) > 60:
            raise ValueError(f"{where}: id must be 1 to 60 letters, digits or _")
        if name in seen:
            raise ValueError(f"{where}: id appears twice")
        seen.add(name)
        try:
            signatures.append(_signature(entry))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return signatures


def load_file(path: str) -> List[Signature]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot be read: {exc}") from None
    return parse_signatures(text)


@lru_cache(maxsize=None)
def builtin() -> Tuple[Signature, ...]:
    text = resources.files(__package__).joinpath("signatures.yaml").read_text(encoding="utf-8")
    return tuple(parse_signatures(text))


def signature_set(user_file: Optional[str] = None) -> Tuple[Signature, ...]:
    """The user's signatures first; one with a built-in's id replaces that built-in."""
    if not user_file:
        return builtin()
    own = load_file(user_file)
    replaced = {s.id for s in own}
    return tuple(own) + tuple(s for s in builtin() if s.id not in replaced)


def match(log_text: str,
          signatures: Optional[Sequence[Signature]] = None) -> Optional[Signature]:
    lowered = log_text.lower()
    return next((s for s in (builtin() if signatures is None else signatures)
                 if s.matches(lowered)), None)


_SEVERITY_BY_PRIORITY = {"FATAL": "CRITICAL", "CRITICAL": "CRITICAL", "ERROR": "HIGH",
                         "HIGH": "HIGH", "WARN": "MEDIUM", "WARNING": "MEDIUM"}


class RulesProvider:
    name = "rules"
    model = MODEL

    def __init__(self, rules_file: Optional[str] = None) -> None:
        self.signatures = signature_set(rules_file)

    async def analyze(self, prompt: Prompt, schema: Dict[str, Any], deadline: float,
                      model: Optional[str] = None) -> Answer:
        started = time.perf_counter()
        signature = match(prompt.log, self.signatures)
        if signature is None:
            fields: Dict[str, Any] = dict(
                summary="An error the rule set does not recognise.",
                root_cause="Unknown: no signature matches this log, and no model analysed it.",
                recommendation="Read the log and its neighbours; retry the analysis when the "
                               "model is back, or add a signature (BIFROST_RULES_FILE).",
                severity=_SEVERITY_BY_PRIORITY.get((prompt.priority or "").upper(), "MEDIUM"),
                confidence=UNKNOWN_CONFIDENCE, category=UNKNOWN)
        else:
            fields = dict(summary=signature.summary, root_cause=signature.root_cause,
                          recommendation=signature.recommendation,
                          severity=signature.severity, confidence=signature.confidence,
                          category=signature.family)
        return Answer(**fields, model=MODEL, provider=self.name,
                      latency_ms=int((time.perf_counter() - started) * 1000),
                      extra={"signature": signature.id if signature else None})
