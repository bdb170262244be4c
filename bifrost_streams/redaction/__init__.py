"""Redaction of secrets and personal data before text leaves the process (prompts, log lines,
alerts, dead letters).

Pure functions, no I/O. Rules are data (rules.py): each has a kind, and redact() returns the
text with every secret replaced by [REDACTED:kind] and a count per kind, which goes into the
result. All rules look at the original text; where their findings overlap they are merged,
so a secret found by two rules is hidden once, as the kind of the rule listed first.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

from .rule import Rule, compile_user_pattern, user_rule
from .rules import RULES

__all__ = ["RULES", "Rule", "RuleSet", "compile_rules", "compile_user_pattern", "redact",
           "redact_text"]


_MARKERS: Dict[str, str] = {}


class RuleSet(list):
    """Rules in their order, with an index of their keywords: which rules a text needs is
    found with one pass over the distinct keywords, grouped by a separator they contain
    (a text without "_" skips every keyword with one)."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        super().__init__(rules)
        groups: Dict[str, Dict[str, List[int]]] = {}
        for order, rule in enumerate(self):
            for word in rule.keywords:
                gate = next((c for c in "_-.~:" if c in word), "")
                groups.setdefault(gate, {}).setdefault(word, []).append(order)
        self.always = frozenset(order for order, rule in enumerate(self) if not rule.keywords)
        self.groups = [(gate, list(words.items())) for gate, words in groups.items()]

    def needed(self, lowered: str) -> List[int]:
        chosen = set(self.always)
        for gate, words in self.groups:
            if gate and gate not in lowered:
                continue
            for word, orders in words:
                if word in lowered:
                    chosen.update(orders)
        return sorted(chosen)


def compile_rules(extra: Iterable[Tuple[str, str]] = ()) -> List[Rule]:
    """The built-in rules plus configured (kind, regex) pairs."""
    return RuleSet(list(RULES) + [user_rule(kind, pattern) for kind, pattern in extra])


def redact(text: str, rules: Optional[List[Rule]] = None) -> Tuple[str, Dict[str, int]]:
    """Replace every secret in text; return the new text and how many of each kind were found."""
    lowered = text.lower()
    rules = _rule_set(rules)
    found = []
    # Most rules are skipped by a substring test: redaction runs on every event.
    for order in rules.needed(lowered):
        rule = rules[order]
        kind = rule.kind
        found.extend([(start, -end, order, kind) for start, end in rule.spans(text, lowered)])
    if not found:
        return text, {}
    found.sort()
    pieces: List[str] = []
    counts: Dict[str, int] = {}
    done = 0  # text before this is copied or hidden
    region_end = -1
    for start, negative_end, _, kind in found:
        end = -negative_end
        if start < region_end:  # overlaps the region being hidden: widen it
            region_end = max(region_end, end)
            continue
        if region_end >= 0:
            done = region_end
        pieces.append(text[done:start])
        pieces.append(_MARKERS.get(kind) or _MARKERS.setdefault(kind, f"[REDACTED:{kind}]"))
        counts[kind] = counts.get(kind, 0) + 1
        region_end = end
    pieces.append(text[region_end:])
    return "".join(pieces), counts


_BUILT_IN = RuleSet(RULES)
_INDEXED: Dict[int, Tuple[List[Rule], RuleSet]] = {}


def _rule_set(rules: Optional[List[Rule]]) -> RuleSet:
    """The rules with their keyword index; a plain list is indexed once and remembered."""
    if not rules:
        return _BUILT_IN
    if isinstance(rules, RuleSet):
        return rules
    known = _INDEXED.get(id(rules))
    if known is None or known[0] is not rules or len(known[1]) != len(rules):
        if len(_INDEXED) > 32:
            _INDEXED.clear()
        known = _INDEXED[id(rules)] = (rules, RuleSet(rules))
    return known[1]


def redact_text(text: str, rules: Optional[List[Rule]] = None) -> str:
    return redact(text, rules)[0]
