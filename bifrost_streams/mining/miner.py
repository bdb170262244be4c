"""Per-service log-template mining on top of Drain3, with state that fits a Faust table.

Each new template costs one model call and every later line of it is served from the cache, so
a wrong merge (two different errors under one template) is worse than a split (one error under
two templates, i.e. one extra call). The miner is therefore strict: masking turns every value
it can recognise into a wildcard, and Drain only puts a line into a template when all the
line's words agree with the template's (similarity threshold 1.0). Words never turn into
wildcards by themselves; only masked values do.

Multi-line texts that hold a stack trace are grouped by their trace fingerprint instead.
"""
from __future__ import annotations

import hashlib
import json
import re
import zlib
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from drain3.drain import Drain, LogCluster, Node

from bifrost_streams.mining import stacktrace
from bifrost_streams.mining.masking import mask

WILDCARD = "<*>"
STATE_VERSION = 1

# Punctuation that separates a key from its value or one value from the next. Unlike Drain3's
# extra delimiters, which become spaces, each is kept as a token of its own: "rhost=<IP>" and
# "(<EMPTY>)" then keep their words and values apart without losing the punctuation.
DEFAULT_DELIMITERS = "=,;:()[]{}\"'|"


@dataclass(frozen=True)
class MinerConfig:
    """Drain3 parameters and our own. The defaults were tuned on Loghub (see evaluate.py)."""
    depth: int = 4
    max_children: int = 100
    # Only exact token sequences share a template (see _StrictDrain); template ids are named
    # by their text, which holds only because templates then never change.
    sim_th: float = 1.0
    # Tokens never hold digits by the time Drain sees them (see `tokenize`), so this only
    # matters for a caller that feeds Drain by other means; kept at Drain3's default.
    parametrize_numeric_tokens: bool = True
    delimiters: str = DEFAULT_DELIMITERS
    top_frames: int = stacktrace.DEFAULT_TOP_FRAMES


def template_id(service: str, template: str) -> str:
    """Named by its text, not by Drain's cluster counter: every worker, every partition and
    every restart give one template the same id (templates never change once made)."""
    digest = hashlib.blake2b(template.encode("utf-8"), digest_size=8).hexdigest()
    return f"{service}:{digest}"


@dataclass(frozen=True)
class Match:
    # "<service>:<hex>" or "<service>:trace-<hex>": never shared by services
    template_id: str
    template: str
    is_new: bool


_DIGIT = re.compile(r"\d").search


def token_pattern(delimiters: str = DEFAULT_DELIMITERS) -> "re.Pattern[str]":
    separators = re.escape(delimiters)
    return re.compile(rf"[^\s{separators}]+|[{separators}]")


_DEFAULT_TOKEN = token_pattern()


def tokenize(masked: str, pattern: "re.Pattern[str]" = _DEFAULT_TOKEN) -> List[str]:
    """The tokens Drain sees: words and separators as they are, each value as one wildcard.

    A token holding a masked value or a digit is a value ("blk_<NUM>", "task_12_m_3"); the
    checks are inlined because this runs for every token of every line."""
    return [WILDCARD if "<" in t or (not t.isalpha() and _DIGIT(t)) else t
            for t in pattern.findall(masked)]


class _StrictDrain(Drain):
    """Drain on pre-tokenised lines, where a line joins a template only when it is the same
    token sequence (a wildcard matching only a wildcard), so templates never change once made.

    Drain3's own similarity never counts a template's wildcard as similar, and at its default
    0.4 "<*> failed" takes in "Shutdown failed": a wrong merge serves one error's analysis for
    another. Drain still provides the prefix tree that finds a line's template quickly.
    """

    def __init__(self, config: MinerConfig) -> None:
        super().__init__(depth=config.depth, sim_th=config.sim_th,
                         max_children=config.max_children,
                         parametrize_numeric_tokens=config.parametrize_numeric_tokens,
                         param_str=WILDCARD)

    def get_content_as_tokens(self, content: str) -> Tuple[str, ...]:
        # Lines come tokenised and joined with single spaces (see `tokenize`).
        return tuple(content.split())

    def get_seq_distance(self, seq1: Sequence[str], seq2: Sequence[str],
                         include_params: bool) -> Tuple[float, int]:
        # Both are tuples, so equality is one C compare.
        return (1.0, 0) if seq1 == seq2 else (0.0, 0)


@dataclass
class _ServiceState:
    drain: _StrictDrain
    traces: Dict[str, List[Any]]  # fingerprint -> [signature, lines seen]


class TemplateMiner:
    """Mines templates per service; `add` returns the template a line belongs to."""

    def __init__(self, config: Optional[MinerConfig] = None) -> None:
        self.config = config or MinerConfig()
        self._token = token_pattern(self.config.delimiters)
        self._services: Dict[str, _ServiceState] = {}

    def _service(self, service: str) -> _ServiceState:
        state = self._services.get(service)
        if state is None:
            state = self._services[service] = _ServiceState(_StrictDrain(self.config), {})
        return state

    def add(self, service: str, text: str) -> Match:
        """Mine one log text (a line, or a multi-line text such as a stack trace)."""
        state = self._service(service)
        text = text.strip()
        if "\n" in text:
            trace = stacktrace.parse(text)
            if trace is not None:
                return self._add_trace(service, state, trace)
        tokens = tokenize(mask(text), self._token)
        cluster, change = state.drain.add_log_message(" ".join(tokens))
        template = cluster.get_template()
        return Match(template_id(service, template), template, change == "cluster_created")

    def _add_trace(self, service: str, state: _ServiceState,
                   trace: stacktrace.StackTrace) -> Match:
        key = stacktrace.fingerprint(trace, self.config.top_frames)
        entry = state.traces.get(key)
        is_new = entry is None
        if entry is None:
            entry = state.traces[key] = [stacktrace.signature(trace, self.config.top_frames), 0]
        entry[1] += 1
        return Match(f"{service}:trace-{key}", entry[0], is_new)

    def services(self) -> List[str]:
        return sorted(self._services)

    def template_count(self, service: str) -> int:
        state = self._services.get(service)
        return 0 if state is None else len(state.drain.id_to_cluster) + len(state.traces)

    # --- state --------------------------------------------------------------------------------

    def export_state(self, service: str) -> Dict[str, Any]:
        """The miner state of one service as JSON-serialisable data (for a Faust table)."""
        state = self._service(service)
        drain = state.drain
        return {
            "version": STATE_VERSION,
            "config": asdict(self.config),
            "counter": drain.clusters_counter,
            "clusters": [[c.cluster_id, list(c.log_template_tokens), c.size]
                         for c in drain.id_to_cluster.values()],
            "tree": _export_node(drain.root_node),
            "traces": {key: list(entry) for key, entry in state.traces.items()},
        }

    def restore_state(self, service: str, data: Dict[str, Any]) -> None:
        """Replace the state of one service by an exported one."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported miner state version {data.get('version')!r}")
        if data.get("config") != asdict(self.config):
            # Another configuration would route and match lines differently than the one that
            # built the state, and the same line could get another template id.
            raise ValueError("miner state was built with another configuration")
        drain = _StrictDrain(self.config)
        drain.clusters_counter = int(data["counter"])
        for cluster_id, tokens, size in data["clusters"]:
            cluster = LogCluster(tokens, int(cluster_id))
            cluster.size = int(size)
            drain.id_to_cluster[cluster.cluster_id] = cluster
        drain.root_node = _import_node(data["tree"])
        traces = {key: [entry[0], int(entry[1])] for key, entry in data["traces"].items()}
        self._services[service] = _ServiceState(drain, traces)

    def dumps(self, service: str) -> bytes:
        """The exported state as compact compressed bytes."""
        text = json.dumps(self.export_state(service), separators=(",", ":"))
        return zlib.compress(text.encode("utf-8"), 6)

    def loads(self, service: str, blob: bytes) -> None:
        self.restore_state(service, json.loads(zlib.decompress(blob).decode("utf-8")))


def _export_node(node: Node) -> List[Any]:
    # [cluster ids, {token: child}]: the prefix tree is saved as it is, not rebuilt from the
    # templates, because its shape depends on the order lines arrived in.
    return [list(node.cluster_ids),
            {token: _export_node(child) for token, child in node.key_to_child_node.items()}]


def _import_node(data: Sequence[Any]) -> Node:
    node = Node()
    node.cluster_ids = [int(i) for i in data[0]]
    node.key_to_child_node = {token: _import_node(child) for token, child in data[1].items()}
    return node
