"""One redaction rule: what it finds, when it runs, and the examples it is tested on."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

from . import keys
from .validators import VALIDATORS

try:  # A linear-time engine for the patterns users configure (see compile_user_pattern).
    import re2
except ImportError:  # pragma: no cover - the package depends on google-re2
    re2 = None


@dataclass(frozen=True)
class Rule:
    """kind: what [REDACTED:kind] says. pattern: a Python regex; a group named `secret` is the
    part hidden (else the whole match), a group named `lead` in a look-behind extends it
    backwards. keywords: lower-case substrings one of which must be
    in the text for the rule to run at all (none: always runs). validator: a name in
    VALIDATORS the match must pass. finder: a search written in code instead of one regex
    ("key_value": values under secret-like key names). hits: texts with the secret between
    ⟦ and ⟧ that must be hidden; misses: texts that must stay as they are."""
    kind: str
    pattern: str
    keywords: Tuple[str, ...] = ()
    validator: Optional[str] = None
    finder: Optional[str] = None
    hits: Tuple[str, ...] = ()
    misses: Tuple[str, ...] = ()
    regex: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.finder == "key_value" and not self.keywords:
            object.__setattr__(self, "keywords", keys.KEYWORDS)
        if self.regex is None and self.pattern:
            object.__setattr__(self, "regex", re.compile(self.pattern))
        if self.validator is not None and self.validator not in VALIDATORS:
            raise ValueError(f"rule {self.kind}: unknown validator {self.validator!r}")

    def spans(self, text: str, lowered: str) -> List[Tuple[int, int]]:
        """Where this rule's secrets are in text (lowered: text.lower())."""
        if self.finder == "key_value":
            return keys.find(text, lowered)
        accept = VALIDATORS[self.validator] if self.validator else None
        hidden = "secret" if "secret" in self.regex.groupindex else 0
        # A group named `lead`, inside a look-behind, is the part of the secret before the
        # literal the regex starts with.
        lead = "lead" in self.regex.groupindex
        found = []
        for match in self.regex.finditer(text):
            if accept is not None and not accept(match):
                continue
            start, end = match.span(hidden)
            if lead and match.start("lead") >= 0:
                start = min(start, match.start("lead"))
            if start < end:
                found.append((start, end))
        return found


def compile_user_pattern(pattern: str) -> Any:
    """A configured pattern, compiled by RE2 when it is installed: RE2 runs in time linear in
    the text whatever the pattern, so no configured pattern can stall the worker. RE2 refuses
    what it cannot run linearly (back-references, look-arounds); that is said at start-up."""
    if re2 is None:
        return re.compile(pattern)
    try:
        return re2.compile(pattern)
    except Exception as exc:  # re2 raises its own error type
        raise ValueError(f"not a pattern RE2 can run in linear time ({exc}); use no "
                         "back-references or look-arounds") from None


def user_rule(kind: str, pattern: str) -> Rule:
    return Rule(kind, pattern, regex=compile_user_pattern(pattern))
