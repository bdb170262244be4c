"""The labelled texts an analysis is scored on: the repo's corpus, a user's JSON-lines file and
Loghub's BGL sample, read into one shape."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, TypeVar

from ..families import IDS

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "benchmarks" / "analysis_corpus.jsonl"
BGL = REPO.parent / "shared" / "data" / "loghub" / "BGL" / "BGL_2k.log_structured.csv"
BANDS = ("low", "high")
# The columns of a BGL line after its alert tag: the line as the machine wrote it.
_BGL_COLUMNS = ("Timestamp", "Date", "Node", "Time", "NodeRepeat", "Type", "Component", "Level",
                "Content")
T = TypeVar("T")


class CorpusError(ValueError):
    pass


@dataclass(frozen=True)
class Item:
    text: str
    family: Optional[str]  # None: no family label (BGL)
    band: Optional[str]  # "low" (LOW/MEDIUM), "high" (HIGH/CRITICAL) or None
    priority: Optional[str] = None  # the log level, as ingestion passes it on


def read_jsonl(path: Path, *, band_required: bool) -> List[Item]:
    """Items of a JSON-lines file of {"text", "family"[, "severity_band"]}; a wrong line is
    reported with its number."""
    items: List[Item] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            items.append(_item(line, f"{path}:{number}", band_required))
    if not items:
        raise CorpusError(f"{path}: no items")
    return items


def _item(line: str, where: str, band_required: bool) -> Item:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise CorpusError(f"{where}: not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise CorpusError(f"{where}: not a JSON object")
    text, family = record.get("text"), record.get("family")
    band = record.get("severity_band")
    if not isinstance(text, str) or not text.strip():
        raise CorpusError(f"{where}: `text` must be a non-empty string")
    if family not in IDS:
        raise CorpusError(f"{where}: `family` {family!r} is not one of the families")
    if band is None and band_required:
        raise CorpusError(f"{where}: `severity_band` is missing")
    if band is not None and band not in BANDS:
        raise CorpusError(f"{where}: `severity_band` must be one of {', '.join(BANDS)}")
    return Item(text=text, family=family, band=band)


def read_bgl(path: Path) -> List[Item]:
    """Loghub BGL: `Label` is `-` on a normal line and an alert tag otherwise. The tag is left
    out of the text, and the line's level goes along as the priority, as ingestion would."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        rows = list(csv.DictReader(handle))
    return [Item(text=" ".join(row[c] for c in _BGL_COLUMNS), family=None,
                 band="low" if row["Label"] == "-" else "high", priority=row["Level"])
            for row in rows]


def spread(items: Sequence[T], count: int) -> List[T]:
    """`count` items taken at even steps through the sequence, in order."""
    if count >= len(items):
        return list(items)
    return [items[i * len(items) // count] for i in range(count)]


def sample_by_family(items: Sequence[Item], count: int) -> List[Item]:
    """At most `count` items, one family after another in turn, so a short run still sees
    every family."""
    queues: Dict[Optional[str], List[Item]] = {}
    for item in items:
        queues.setdefault(item.family, []).append(item)
    chosen: List[Item] = []
    while len(chosen) < count and any(queues.values()):
        for queue in queues.values():
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return chosen


def sample_bgl(items: Sequence[Item], count: int) -> List[Item]:
    """Half alerts, half normal lines (alerts are a tenth of BGL), each spread over the file."""
    alerts = [i for i in items if i.band == "high"]
    normal = [i for i in items if i.band != "high"]
    return spread(alerts, count // 2) + spread(normal, count - count // 2)
