"""Identifiers an analysis names that its log does not: the hallucination measure.

An identifier is a word that names one particular thing: a host or IP address, a dotted class
or module name, a snake_case table or column, a CamelCase class, a hyphenated name with digits
(a pod, a host) or a number of three or more digits. Words are cut by a single pass over the
characters and classified by their characters, with no regular expression: the text is a
model's answer to an untrusted log.
"""
from __future__ import annotations

from typing import Callable, FrozenSet, List, Set

_WORD_PUNCTUATION = frozenset("._-")
_EDGES = "._-"
MIN_DIGITS = 3
MIN_HYPHENATED = 6
# Product names and Kubernetes reasons a model may infer from a log that does not spell them:
# vocabulary, not identifiers of the failing system.
WELL_KNOWN: FrozenSet[str] = frozenset({
    "postgresql", "mysql", "mariadb", "javascript", "typescript", "nodejs", "mongodb",
    "dynamodb", "rabbitmq", "graphql", "oauth", "openssl", "hikaricp", "sqlalchemy",
    "elasticsearch", "opensearch", "coredns", "openjdk", "github", "gitlab", "pgbouncer",
    "kafkajs", "grpc", "macos", "devops", "crashloopbackoff", "imagepullbackoff",
    "errimagepull", "oomkilled", "createcontainerconfigerror",
})


def _runs(text: str, belongs: Callable[[str], bool]) -> List[str]:
    """The maximal runs of characters that belong, in one pass."""
    found: List[str] = []
    start = -1
    for index, char in enumerate(text):
        if belongs(char):
            if start < 0:
                start = index
        elif start >= 0:
            found.append(text[start:index])
            start = -1
    if start >= 0:
        found.append(text[start:])
    return found


def words(text: str) -> List[str]:
    """Runs of letters, digits and . _ - with those three trimmed from both ends."""
    found = _runs(text, lambda char: char.isalnum() or char in _WORD_PUNCTUATION)
    return [w for w in (w.strip(_EDGES) for w in found) if w]


def digit_runs(word: str) -> List[str]:
    return _runs(word, str.isdigit)


def _is_ip(word: str) -> bool:
    parts = word.split(".")
    return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts)


def _has_letter(word: str) -> bool:
    return any(c.isalpha() for c in word)


def _is_camel(word: str) -> bool:
    return any(a.islower() and b.isupper() for a, b in zip(word, word[1:]))


def _is_name(word: str) -> bool:
    if not _has_letter(word) or word.lower() in WELL_KNOWN:
        return False
    if "." in word and all(word.split(".")) and len(word) > 3:  # hosts, classes; not "e.g"
        return True
    if "_" in word:
        return True
    if "-" in word and len(word) >= MIN_HYPHENATED and any(c.isdigit() for c in word):
        return True
    return _is_camel(word)


def identifiers(text: str) -> Set[str]:
    """The identifiers of a text; numbers as their digits."""
    found: Set[str] = set()
    for word in words(text):
        if _is_ip(word):
            found.add(word)
            continue
        if _is_name(word):
            found.add(word)
        found.update(run for run in digit_runs(word) if len(run) >= MIN_DIGITS)
    return found


def ungrounded(answer_text: str, log_text: str) -> List[str]:
    """The identifiers of answer_text that log_text does not contain (names compared without
    case, numbers as whole digit runs)."""
    log_lower = log_text.lower()
    log_numbers = {run for word in words(log_text) for run in digit_runs(word)}
    missing = []
    for ident in sorted(identifiers(answer_text)):
        if ident.isdigit():
            if ident not in log_numbers:
                missing.append(ident)
        elif ident.lower() not in log_lower:
            missing.append(ident)
    return missing
