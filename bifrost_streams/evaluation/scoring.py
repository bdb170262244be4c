"""Figures of one provider on one data set, from the outcome of each item."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, List, Optional, Sequence

from ..families import UNKNOWN, parent_of

HIGH_SEVERITIES = frozenset({"HIGH", "CRITICAL"})


def answer_family(answer: Any) -> str:
    """The family an answer names, as its parent family; `unknown` when it names none. The
    answer's `category` first, then one in its extras (where a provider may keep it)."""
    for category in (getattr(answer, "category", None),
                     (getattr(answer, "extra", None) or {}).get("category")):
        if isinstance(category, str):
            family = parent_of(category.strip().lower())
            if family not in (None, UNKNOWN):
                return family
    return UNKNOWN


def band_of(severity: str) -> str:
    return "high" if severity.upper() in HIGH_SEVERITIES else "low"


@dataclass(frozen=True)
class Outcome:
    """What a provider made of one item. family is None when the provider gave no answer."""
    expected: Optional[str]
    band: Optional[str]
    family: Optional[str] = None
    severity: Optional[str] = None
    valid: bool = False
    latency_ms: float = 0.0
    tokens: int = 0
    ungrounded: Sequence[str] = field(default_factory=tuple)
    error: str = ""
    rejected: bool = False  # no answer because none met the schema, even asked again

    @property
    def answered(self) -> bool:
        return self.family is not None

    @property
    def named(self) -> bool:
        """The provider named a family other than `unknown`."""
        return self.family not in (None, UNKNOWN)

    @property
    def right(self) -> bool:
        return self.answered and self.family == self.expected


def with_rules(model: Outcome, rules: Outcome) -> Outcome:
    """What a result holds when the rules back a model up, as the analyser does: the rules'
    answer when the model gave none, their family when the model's is `unknown`."""
    if not model.answered:
        return rules
    if model.family == UNKNOWN and rules.named:
        return replace(model, family=rules.family)
    return model


def _share(hits: int, total: int) -> Optional[float]:
    return hits / total if total else None


def accuracy(outcomes: Sequence[Outcome]) -> Optional[float]:
    """Right families among all labelled items; no answer counts as wrong."""
    labelled = [o for o in outcomes if o.expected is not None]
    return _share(sum(o.right for o in labelled), len(labelled))


def precision(outcomes: Sequence[Outcome]) -> Optional[float]:
    """Right families among the answers that named one (not `unknown`)."""
    named = [o for o in outcomes if o.expected is not None and o.named]
    return _share(sum(o.right for o in named), len(named))


def coverage(outcomes: Sequence[Outcome]) -> Optional[float]:
    """Share of labelled items answered with a family other than `unknown`."""
    labelled = [o for o in outcomes if o.expected is not None]
    return _share(sum(o.named for o in labelled), len(labelled))


def severity_agreement(outcomes: Sequence[Outcome], band: Optional[str] = None
                       ) -> Optional[float]:
    """Share of answered items whose severity falls in their band (of one band if given)."""
    scored = [o for o in outcomes if o.answered and o.band is not None
              and (band is None or o.band == band)]
    return _share(sum(band_of(o.severity or "") == o.band for o in scored), len(scored))


def hallucination_rate(outcomes: Sequence[Outcome]) -> Optional[float]:
    """Share of answers whose summary or root cause names an identifier not in the log."""
    answered = [o for o in outcomes if o.answered]
    return _share(sum(bool(o.ungrounded) for o in answered), len(answered))


def schema_valid(outcomes: Sequence[Outcome]) -> Optional[float]:
    """Share of the replies that met the schema; a call that got no reply (a timeout, a
    refused connection) is counted under errors, not here."""
    replied = [o for o in outcomes if o.answered or o.rejected]
    return _share(sum(o.valid for o in replied), len(replied))


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def latency(outcomes: Sequence[Outcome], q: float) -> Optional[float]:
    return percentile([o.latency_ms for o in outcomes if o.answered], q)


def tokens_per_analysis(outcomes: Sequence[Outcome]) -> Optional[float]:
    answered = [o.tokens for o in outcomes if o.answered]
    return sum(answered) / len(answered) if answered else None


def errors(outcomes: Sequence[Outcome]) -> List[str]:
    return [o.error for o in outcomes if o.error]
