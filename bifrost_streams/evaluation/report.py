"""The printed table and the issue's targets, each marked PASS or MISS (printed, not asserted)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

from . import scoring
from .scoring import Outcome

RULES_PRECISION = 0.95
RULES_COVERAGE = 0.80
MODEL_ACCURACY = 0.90
MODEL_HALLUCINATION = 0.02


@dataclass(frozen=True)
class Run:
    provider: str
    is_model: bool
    data: str  # the data set's name: corpus, bgl or the user's file
    labelled: bool  # items carry a family
    outcomes: Sequence[Outcome]


_COLUMNS = (("provider", 10), ("data", 14), ("n", 5), ("accuracy", 9), ("precision", 10),
            ("coverage", 9), ("severity", 9), ("halluc.", 8), ("valid", 7), ("errors", 7),
            ("p50 ms", 9), ("p95 ms", 9), ("tokens", 8))
NOTE = ("accuracy: right family (a child counts as its parent) among all items; precision: "
        "right among answers naming a family;\ncoverage: items answered with a family other "
        "than unknown; severity: answers in the item's band (LOW/MEDIUM or HIGH/CRITICAL);\n"
        "halluc.: answers whose summary or root cause names a host, IP, class, table or 3+ "
        "digit number absent from the log;\nvalid: replies meeting the result schema (after "
        "the router's one retry); errors: calls with no reply; tokens: prompt + completion "
        "per analysis")


def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.3f}"


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1%}"


def _number(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:,.0f}"


def _cells(run: Run) -> List[str]:
    o = run.outcomes

    def family(figure: Callable[[Sequence[Outcome]], Optional[float]]) -> str:
        return _ratio(figure(o)) if run.labelled else "-"
    return [run.provider, run.data, str(len(o)), family(scoring.accuracy),
            family(scoring.precision), family(scoring.coverage),
            _ratio(scoring.severity_agreement(o)), _percent(scoring.hallucination_rate(o)),
            _percent(scoring.schema_valid(o)), str(len(scoring.errors(o))),
            _number(scoring.latency(o, 50)), _number(scoring.latency(o, 95)),
            _number(scoring.tokens_per_analysis(o))]


def table(runs: Sequence[Run]) -> List[str]:
    widths = [width for _, width in _COLUMNS]
    widths[0] = max([widths[0]] + [len(run.provider) + 2 for run in runs])
    rows = [[name for name, _ in _COLUMNS]] + [_cells(run) for run in runs]
    return ["".join(f"{cell:<{width}}" if i < 2 else f"{cell:>{width}}"
                    for i, (cell, width) in enumerate(zip(row, widths))) for row in rows]


def alert_lines(runs: Sequence[Run]) -> List[str]:
    """How alert and normal lines of an unlabelled set (BGL) came out: a measure to watch."""
    lines = []
    for run in runs:
        if run.labelled:
            continue
        alerts = [o for o in run.outcomes if o.band == "high" and o.answered]
        normal = [o for o in run.outcomes if o.band == "low" and o.answered]
        high = sum(scoring.band_of(o.severity or "") == "high" for o in alerts)
        low = sum(scoring.band_of(o.severity or "") == "low" for o in normal)
        lines.append(f"{run.provider} on {run.data}: alerts HIGH/CRITICAL {high}/{len(alerts)} "
                     f"({_percent(high / len(alerts) if alerts else None)}), normal lines "
                     f"LOW/MEDIUM {low}/{len(normal)} "
                     f"({_percent(low / len(normal) if normal else None)}) - no target yet")
    return lines


def _check(label: str, value: Optional[float], op: str, target: float, fmt: str) -> str:
    if value is None:
        return f"{label}: no answers -> MISS"
    met = value >= target if op == ">=" else value < target
    return (f"{label}: {format(value, fmt)} {op} {format(target, fmt)} -> "
            f"{'PASS' if met else 'MISS'}")


def targets(runs: Sequence[Run], corpus: str = "corpus") -> List[str]:
    lines = []
    for run in runs:
        if run.data != corpus:
            continue
        who = f"{run.provider} on the {corpus}"
        if run.provider == "rules":
            lines.append(_check(f"{who}, precision", scoring.precision(run.outcomes), ">=",
                                RULES_PRECISION, ".4f"))
            lines.append(_check(f"{who}, coverage", scoring.coverage(run.outcomes), ">=",
                                RULES_COVERAGE, ".4f"))
        if run.is_model:
            lines.append(_check(f"{who}, family accuracy", scoring.accuracy(run.outcomes),
                                ">=", MODEL_ACCURACY, ".4f"))
            lines.append(_check(f"{who}, hallucinated identifiers",
                                scoring.hallucination_rate(run.outcomes), "<",
                                MODEL_HALLUCINATION, ".2%"))
    for provider in dict.fromkeys(run.provider for run in runs):
        outcomes = [o for run in runs if run.provider == provider for o in run.outcomes]
        lines.append(_check(f"{provider}, schema-valid results (all data)",
                            scoring.schema_valid(outcomes), ">=", 1.0, ".2%"))
    return lines


def by_family(runs: Sequence[Run], corpus: str = "corpus") -> List[str]:
    """Per family: items, and right answers per provider."""
    scored = [run for run in runs if run.data == corpus]
    families = sorted({o.expected for run in scored for o in run.outcomes if o.expected})
    widths = [max(12, len(run.provider) + 2) for run in scored]
    lines = [f"{'family':<28}" + "".join(f"{run.provider:>{width}}"
                                         for run, width in zip(scored, widths))]
    for family in families:
        cells = []
        for run in scored:
            mine = [o for o in run.outcomes if o.expected == family]
            cells.append(f"{sum(o.right for o in mine)}/{len(mine)}" if mine else "-")
        lines.append(f"{family:<28}" + "".join(f"{cell:>{width}}"
                                               for cell, width in zip(cells, widths)))
    return lines


def ungrounded_names(runs: Sequence[Run], per_run: int = 10) -> List[str]:
    """The identifiers counted as invented, a few answers per run: to judge the measure."""
    lines = []
    for run in runs:
        named = [o.ungrounded for o in run.outcomes if o.ungrounded][:per_run]
        if named:
            lines.append(f"{run.provider} on {run.data}: "
                         + "; ".join(", ".join(names) for names in named))
    return lines
