"""Per-service log-template mining, with state bounded per service and per worker.

Each new template costs one model call and every later line of it is served from the cache, so
a wrong merge (two different errors under one template) is worse than a split (one error under
two templates, i.e. one extra call). The miner is therefore strict: masking turns every value
it can recognise into a wildcard, and a line shares a template only with lines of exactly the
same token sequence. Words never turn into wildcards by themselves; only masked values do.

That strictness makes the template a line's masked token sequence itself, so a template is
found by one dictionary lookup on it. (Drain3's prefix tree, used here before, found the same
templates but then compared the line with every template of its leaf: 6.8 ms a line after
12,000 templates of one length and first words, against 0.04 ms fresh.)

Multi-line texts that hold a stack trace are grouped by their trace fingerprint instead.

Bounds, because log text is attacker-influenced (a stream of unique lines is a stream of new
templates):
- at most `max_templates_per_service` templates per service: a new one evicts the service's
  least recently used template. An evicted template that comes back gets its same id again
  (ids are named by the template's text), so its cached analysis is still found; only its
  `is_new` is told again.
- at most `max_templates` templates in all: a new one evicts the least recently used template
  of the least recently used service that has one.
- at most `max_services` services: a line of a new service evicts the least recently used
  service if that one has been idle for `service_idle_seconds`; otherwise the line is mined
  under the shared service OVERFLOW_SERVICE, whose template ids are just as deterministic.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Dict, List, Optional, Tuple

from bifrost_streams.mining import stacktrace
from bifrost_streams.mining.masking import mask_tokens, remember

WILDCARD = "<*>"
STATE_VERSION = 2
# Where lines of services beyond max_services go (a name no request can shadow: it starts
# with "_" and a real service of that name only shares the overflow's templates).
OVERFLOW_SERVICE = "_overflow"

# Punctuation that separates a key from its value or one value from the next. Unlike Drain3's
# extra delimiters, which become spaces, each is kept as a token of its own: "rhost=<IP>" and
# "(<EMPTY>)" then keep their words and values apart without losing the punctuation.
DEFAULT_DELIMITERS = "=,;:()[]{}\"'|"


@dataclass(frozen=True)
class MinerConfig:
    """How lines become templates (tuned on Loghub, see evaluate.py), and the bounds."""
    delimiters: str = DEFAULT_DELIMITERS
    top_frames: int = stacktrace.DEFAULT_TOP_FRAMES
    max_templates_per_service: int = 0  # 0: no bound
    max_services: int = 0  # 0: no bound
    max_templates: int = 0  # over all services; 0: no bound
    # A service idle this long may make room for a new one: the longest occurrence window
    # (an hour) has then no count of it left to show.
    service_idle_seconds: float = 3600.0
    # Choices a log sample could decide (evaluate.py chooses them leaving one data set out):
    # whether a bare word after "user" is an account name, whether a token with a digit is a
    # value even where no mask recognised one ("task_12_m_3"), and whether a run of one
    # repeated value ("blk_<NUM> blk_<NUM>") is one value.
    mask_user_names: bool = True
    digits_make_values: bool = True
    fold_repeated_values: bool = True

    def matching(self) -> Dict[str, Any]:
        """What decides a line's template id: a state built with other values is not valid.

        A choice at its default is left out, so states exported before it existed still fit."""
        decided = {"delimiters": self.delimiters, "top_frames": self.top_frames}
        for name, default in _CHOICE_DEFAULTS.items():
            if getattr(self, name) != default:
                decided[name] = getattr(self, name)
        return decided


_CHOICE_DEFAULTS: Dict[str, Any] = {"mask_user_names": True, "digits_make_values": True,
                                     "fold_repeated_values": True}


def template_id(service: str, template: str) -> str:
    """Named by its text, not by a counter: every worker, every partition and every restart
    give one template the same id (templates never change once made)."""
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


def tokenize(masked: str, pattern: "re.Pattern[str]" = _DEFAULT_TOKEN,
             digits_make_values: bool = True) -> List[str]:
    """A template's tokens: words and separators as they are, each value as one wildcard.

    A token holding a masked value is a value, and so is one holding a digit unless
    `digits_make_values` is off ("blk_<NUM>", "task_12_m_3"); the checks are inlined because
    this runs for every token of every line."""
    if not digits_make_values:
        return [WILDCARD if "<" in t else t for t in pattern.findall(masked)]
    return [WILDCARD if "<" in t or (not t.isalpha() and _DIGIT(t)) else t
            for t in pattern.findall(masked)]


# Masked tokens and templates repeat from line to line; their tokenisation and ids are cached
# per miner, for short ones only, so the caches stay small whatever the text.
_CACHED_CHARS = 64
_CACHED_TEMPLATE_CHARS = 256
_CACHE_ENTRIES = 8192


class _Service:
    __slots__ = ("templates", "used")

    def __init__(self) -> None:
        # template id -> its match for a later line, least recently used first
        self.templates: "OrderedDict[str, Match]" = OrderedDict()
        self.used = 0.0


class TemplateMiner:
    """Mines templates per service; `add` returns the template a line belongs to.

    `on_evict(template_id)` is called for each template the bounds remove (the templates
    table forgets it too)."""

    def __init__(self, config: Optional[MinerConfig] = None,
                 on_evict: Optional[Callable[[str], None]] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or MinerConfig()
        self._token = token_pattern(self.config.delimiters)
        self._fragments: Dict[str, str] = {}  # emptied when full
        self._template_id = lru_cache(maxsize=_CACHE_ENTRIES)(template_id)
        self._on_evict = on_evict
        self._clock = clock
        # least recently used first
        self._services: "OrderedDict[str, _Service]" = OrderedDict()
        self._total = 0

    def _service(self, service: str) -> Tuple[str, _Service]:
        state = self._services.get(service)
        if state is None:
            if service != OVERFLOW_SERVICE and not self._room_for_a_service():
                service = OVERFLOW_SERVICE
                state = self._services.get(service)
            if state is None:
                state = self._services[service] = _Service()
        self._services.move_to_end(service)
        state.used = self._clock()
        return service, state

    def _room_for_a_service(self) -> bool:
        cap = self.config.max_services
        tracked = len(self._services) - (OVERFLOW_SERVICE in self._services)
        if not cap or tracked < cap:
            return True
        for name, state in self._services.items():  # the least recently used first
            if name == OVERFLOW_SERVICE:
                continue
            if self._clock() - state.used < self.config.service_idle_seconds:
                return False
            del self._services[name]
            self._total -= len(state.templates)
            for template_id_ in state.templates:
                self._evicted(template_id_)
            return True
        return False

    def _evicted(self, template_id_: str) -> None:
        if self._on_evict is not None:
            self._on_evict(template_id_)

    def _fragment_of(self, piece: str) -> str:
        return " ".join(tokenize(piece, self._token, self.config.digits_make_values))

    def _line_template(self, text: str) -> str:
        config = self.config
        memo = self._fragments
        known = memo.get
        fragments = []
        for piece in mask_tokens(text, config.mask_user_names, config.fold_repeated_values):
            found = known(piece)
            if found is None:
                found = remember(memo, piece, self._fragment_of(piece), _CACHED_CHARS,
                                 _CACHE_ENTRIES)
            fragments.append(found)
        return " ".join(fragments)

    def add(self, service: str, text: str) -> Match:
        """Mine one log text (a line, or a multi-line text such as a stack trace)."""
        service, state = self._service(service)
        text = text.strip()
        if "\n" in text:
            trace = stacktrace.parse(text)
            if trace is not None:
                key = f"{service}:trace-{stacktrace.fingerprint(trace, self.config.top_frames)}"
                known = state.templates.get(key)
                if known is not None:
                    state.templates.move_to_end(key)
                    return known
                return self._new(state, key,
                                 stacktrace.signature(trace, self.config.top_frames))
        template = self._line_template(text)
        key = (self._template_id(service, template) if len(template) <= _CACHED_TEMPLATE_CHARS
               else template_id(service, template))
        known = state.templates.get(key)
        if known is not None:
            state.templates.move_to_end(key)
            return known
        return self._new(state, key, template)

    def _new(self, state: _Service, key: str, template: str) -> Match:
        cap = self.config.max_templates_per_service
        if cap and len(state.templates) >= cap:
            self._evict_oldest(state)
        elif self.config.max_templates and self._total >= self.config.max_templates:
            # Approximately the least recently used template of all, without a second order
            # over every template.
            self._evict_oldest(next(s for s in self._services.values() if s.templates))
        state.templates[key] = Match(key, template, False)
        self._total += 1
        return Match(key, template, True)

    def _evict_oldest(self, state: _Service) -> None:
        self._evicted(state.templates.popitem(last=False)[0])
        self._total -= 1

    def holds(self, template_id_: str) -> bool:
        """Whether the template is among those kept (its service is the id's prefix)."""
        state = self._services.get(template_id_.rsplit(":", 1)[0])
        return state is not None and template_id_ in state.templates

    def clear(self) -> None:
        """Forget every template (without telling on_evict)."""
        self._services.clear()
        self._total = 0

    def services(self) -> List[str]:
        return sorted(self._services)

    def template_count(self, service: Optional[str] = None) -> int:
        """Templates kept for one service, or for all."""
        if service is None:
            return self._total
        state = self._services.get(service)
        return 0 if state is None else len(state.templates)

    # --- state --------------------------------------------------------------------------------

    def export_state(self, service: str) -> Dict[str, Any]:
        """The templates of one service as JSON-serialisable data, least recently used first."""
        state = self._services.get(service) or _Service()
        return {"version": STATE_VERSION, "config": self.config.matching(),
                "templates": [[key, match.template] for key, match in state.templates.items()]}

    def restore_state(self, service: str, data: Dict[str, Any]) -> None:
        """Replace the templates of one service by exported ones (within the bounds)."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported miner state version {data.get('version')!r}")
        if data.get("config") != self.config.matching():
            # Another configuration would tokenise lines differently than the one that built
            # the state, and the same line could get another template id.
            raise ValueError("miner state was built with another configuration")
        _, state = self._service(service)
        self._total -= len(state.templates)
        state.templates.clear()
        for key, template in data["templates"]:
            self._new(state, str(key), str(template))

    def dumps(self, service: str) -> bytes:
        """The exported state as compact compressed bytes."""
        text = json.dumps(self.export_state(service), separators=(",", ":"))
        return zlib.compress(text.encode("utf-8"), 6)

    def loads(self, service: str, blob: bytes) -> None:
        self.restore_state(service, json.loads(zlib.decompress(blob).decode("utf-8")))
