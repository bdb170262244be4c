"""Redaction of secrets and personal data before text leaves the process (prompts, log lines).

Pure functions, no I/O. Each rule has a kind; redact() returns the text with every match
replaced by [REDACTED:kind] and a count per kind, which goes into the result.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Callable, Dict, Iterable, List, Optional, Tuple

Rule = Tuple[str, re.Pattern, Optional[Callable[[re.Match], bool]]]


def _luhn(match: re.Match) -> bool:
    digits = [int(c) for c in match.group(0) if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


_SECRET_WORDS = (r"password|passwd|pwd|pass|secret|client_secret|token|access_token|"
                 r"refresh_token|api[_-]?key|apikey|auth[_-]?token|private[_-]?key|"
                 r"aws_secret_access_key|aws_session_token|credentials?")

# Whole-token kinds come first so that a key=value rule does not split them.
RULES: List[Rule] = [
    ("private_key", re.compile(
        r"-----BEGIN (?:[A-Z ]+ )?PRIVATE KEY-----.*?(?:-----END (?:[A-Z ]+ )?PRIVATE KEY-----|\Z)",
        re.S), None),
    ("connection_string", re.compile(
        r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:[^\s@/]+@[^\s/]+"), None),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), None),
    ("bearer_token", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), None),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
     None),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|"
                                r"github_pat_[A-Za-z0-9_]{22,255})"),
     None),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), None),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), None),
    ("slack_webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"), None),
    ("stripe_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"), None),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), None),
    ("openai_key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}"), None),
    ("npm_token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), None),
    ("secret_assignment", re.compile(
        r"(?i)(?P<name>\b(?:" + _SECRET_WORDS + r"))(?P<sep>\s*[=:]\s*|\"\s*:\s*\")"
        r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&\"'}]+)"), None),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), None),
    ("card_number", re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), _luhn),
]


def compile_rules(extra: Iterable[Tuple[str, str]] = ()) -> List[Rule]:
    """The built-in rules plus configured (kind, regex) pairs."""
    return RULES + [(kind, re.compile(pattern), None) for kind, pattern in extra]


def redact(text: str, rules: Optional[List[Rule]] = None) -> Tuple[str, Dict[str, int]]:
    """Replace every secret in text; return the new text and how many of each kind were found."""
    counts: Counter = Counter()
    for kind, pattern, accept in rules or RULES:
        def replace(match: re.Match, kind: str = kind, accept=accept) -> str:
            if accept is not None and not accept(match):
                return match.group(0)
            counts[kind] += 1
            if "value" in pattern.groupindex:
                return f"{match.group('name')}{match.group('sep')}[REDACTED:{kind}]"
            return f"[REDACTED:{kind}]"
        text = pattern.sub(replace, text)
    return text, dict(counts)


def redact_text(text: str, rules: Optional[List[Rule]] = None) -> str:
    return redact(text, rules)[0]
