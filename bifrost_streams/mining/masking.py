"""Masking of the variable parts of a log line before template mining.

Drain compares lines token by token, so every value that changes from one occurrence of an event
to the next (ids, numbers, addresses, times, paths) must collapse to one placeholder first, or
the same event splits into many templates.

Masking runs in two steps, for speed as much as for correctness (a regex scan of a whole line
costs about as much as the rest of mining a line):
1. line rules, for shapes that span tokens or may hold no digit (URLs, paths, host names,
   syslog times, sizes with a unit), each behind a cheap guard that most lines fail;
2. one scan for "chunks" that hold a digit, each classified on its own short text, the most
   specific shape first, so that "10.0.0.1:80" becomes one <IP> and not four numbers.
Then a few clean-ups make a variable number of values, or an empty one, look the same.
Everything after the line rules that span white space reads one token at a time and is
cached per token (the host-name rule, the chunks and the clean-ups), so most of a line costs
dictionary look-ups.

Pure functions, no I/O but bounded caches that never change a result.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable, Dict, List, Optional, Tuple, TypeVar, cast

# A rule is (placeholder, pattern, guard): the pattern only runs when the guard holds.
Rule = Tuple[str, "re.Pattern[str]", Callable[[str], bool]]

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
_CLOCK = r"\d{1,2}:\d{2}:\d{2}(?:[.,:]\d+)?"
_ZONE = r"(?:Z|[+-]\d{2}:?\d{2})?"

_TLD = r"(?:com|net|org|edu|gov|mil|info|biz|io)"
# Second-level labels under a country code ("co.uk", "com.br"). Other names that end in a
# two-letter label are hosts only when a label holds a digit or a hyphen, because dotted
# config keys ("mapred.task.id") and package names end in short words too.
_SLD = r"(?:com|net|org|edu|gov|co|ac|ne|or|go)"
_LABEL = r"[A-Za-z0-9][\w-]*"
_END = r"(?![\w-]|\.\w)"
_SEGMENTS = r"[\w.@%+~*-]+(?:/[\w.@%+~*-]+)*/?(?:\?\S*)?"


def _has(*needles: str) -> Callable[[str], bool]:
    # Spelled out for one and two needles: guards run for every chunk of every line.
    if len(needles) == 1:
        (first,) = needles
        return lambda text: first in text
    if len(needles) == 2:
        first, second = needles
        return lambda text: first in text or second in text
    return lambda text: any(needle in text for needle in needles)


def _found(pattern: str, flags: int = 0) -> Callable[[str], bool]:
    search = re.compile(pattern, flags).search
    return lambda text: search(text) is not None


def _always(_text: str) -> bool:
    return True


def _size_guard(text: str) -> bool:
    # A unit ends with "B" before a separator or at the end ("412 B", "9.2 KB,"), or is "bytes".
    return ("B " in text or "B," in text or "B)" in text or text.endswith("B")
            or "bytes" in text)


# Log text is untrusted: no pattern here may take more than linear time. A search tries every
# start position, so a pattern that scans a run and fails at its end, from each position in
# the run, is quadratic ("a.a.a.a...", 100 KB, took seconds). The URL and e-mail patterns
# therefore start only where a run of their characters starts, skip to the first position the
# plain pattern would have started at (`pre`, put back by the replacement), and consume the
# run possessively: a failed attempt costs the run once.
LINE_RULES: List[Rule] = [
    ("<URL>", re.compile(r"(?<![A-Za-z0-9+.-])"
                         r"(?P<pre>(?<!\w)(?=[A-Za-z])|(?>[A-Za-z0-9+.-]*?(?<=[+.-])(?=[A-Za-z])))"
                         r"[A-Za-z0-9+.-]*+://[^\s\"'<>]++"), _has("://")),
    ("<EMAIL>", re.compile(r"(?<![\w.%+-])(?P<pre>[.%+-]*+)(?=\w)[\w.%+-]++"
                           r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
     _has("@")),
    # Unix paths, absolute or relative ("./run"), with their query string if any. The pattern
    # starts with the slash and looks back from there, which lets the scan skip to slashes.
    # "/10.0.0.1:80" is a host, not a path: the chunk step masks it.
    ("<PATH>", re.compile(r"/(?<![\w.:/<>~-]/)(?!\d+\.\d+\.\d+\.\d+)" + _SEGMENTS), _has("/")),
    ("<PATH>", re.compile(r"[.~](?<![\w.~-][.~])\.?/" + _SEGMENTS), _has("./", "~/")),
    ("<PATH>", re.compile(r"(?<![\w.])[A-Za-z]:\\[\w.@%+~-]*(?:\\[\w.@%+~-]+)*\\?"),
     _has(":\\")),
    # A syslog or ctime stamp spans tokens: "Sun Jul 24 02:38:22 2005", "Jul 24 02:38:22".
    ("<TS>", re.compile(r"\b(?:" + _DAY + r",?\s+)?" + _MONTH + r"\s+\d{1,2},?\s+(?:\d{4}\s+)?"
                        + _CLOCK + r"(?:\s+[A-Z]{2,5}\s+\d{4}|\s+\d{4})?"),
     _found(_MONTH + r" +\d")),
    # A size keeps its unit inside the value: "9.2 KB" and "412 B" are the same field.
    ("<SIZE>", re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:[KMGTPE]i?B|B|bytes)\b"), _size_guard),
    # The first character comes before the look back, which lets the scan skip to characters
    # a host name can start with (a look back first is tried at every position).
    ("<HOST>", re.compile(r"[A-Za-z0-9](?<![\w.-][A-Za-z0-9])(?:"
                          r"[\w-]*\.(?:" + _LABEL + r"\.)*" + _TLD + r"(?:\.[a-z]{2})?" + _END
                          + r"|[\w-]*\.(?:" + _LABEL + r"\.)*" + _SLD + r"\.[a-z]{2}" + _END
                          + r"|(?:(?<=\d)|(?=[\w.]*[\d-]))[\w-]*\.(?:" + _LABEL + r"\.)+[a-z]{2}"
                          + _END + ")", re.IGNORECASE),
     _found(r"\.(?:" + _TLD + r"|[a-z]{2})" + _END, re.IGNORECASE)),
]

# Applied to each chunk that holds a digit, in order; a chunk is short, so each rule is cheap.
VALUE_RULES: List[Rule] = [
    ("<UUID>", re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                          r"[0-9a-fA-F]{12}"), lambda s: s.count("-") >= 4),
    # IPv4 with an optional port.
    ("<IP>", re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.])"),
     lambda s: s.count(".") >= 3),
    ("<TS>", re.compile(r"\d{4}[-/.]\d{2}[-/.]\d{2}[T:-]?" + _CLOCK + _ZONE
                        + r"|\d{4}-\d{2}-\d{2}-\d{2}\.\d{2}\.\d{2}(?:\.\d+)?"
                        + r"|\d{8}-\d{1,2}:\d{2}:\d{2}(?::\d+)?"), _has("-")),
    ("<TS>", re.compile(r"(?<![\w.])" + _CLOCK + r"(?![\w])"), _has(":")),
    ("<DATE>", re.compile(r"\b(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4})\b"),
     _has("-", "/", ".")),
    # MAC addresses and longer colon-separated hardware ids (EUI-64, WWNs).
    ("<MAC>", re.compile(r"\b[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5,}\b"), _has(":")),
    ("<HEX>", re.compile(r"\b0[xX][0-9a-fA-F]+\b"), _has("0x", "0X")),
    # Long hex runs are hashes and request ids; they must hold a letter, or a long plain number
    # would be taken for one.
    ("<HEX>", re.compile(r"\b(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"),
     lambda s: len(s) >= 8),
    # A number is a digit run not glued to a letter in front: "after 3000ms", "node-3" and
    # "blk_-42" are masked, while "K10", "http2" and "jk2_init" name things and are kept.
    ("<NUM>", re.compile(r"(?<![A-Za-z0-9])[-+]?\d+(?:\.\d+)*"), _always),
]

# A run of characters that can belong to one value and holds a digit. Key/value separators and
# brackets end it, so "uid=0" and "[10.0.0.1]" give the bare value.
# (The lookbehind makes a scan start only where a run starts, which keeps the scan linear.)
_VALUE_END = r"\s=,;()\[\]{}\"'<>|"
_CHUNK = re.compile(rf"(?<![^{_VALUE_END}])[^{_VALUE_END}\d]*\d[^{_VALUE_END}]*")
# Most chunks are one whole value; one anchored match of all shapes finds which, and only
# composite chunks ("blk_-42", "/10.0.0.1:80") go through the rules one by one.
_WHOLE = re.compile("|".join(f"(?P<g{i}>{pattern.pattern})"
                             for i, (_, pattern, _) in enumerate(VALUE_RULES)))
_FIRST_DIGIT = re.compile(r"\d")
_PLACEHOLDER = re.compile(r"<[A-Z]+>")
_VALUES_ONLY = re.compile(r"<[A-Z]+>(?:[-+:._/]+<[A-Z]+>)+")
# A rule that matched from the start of a run puts back what came before its value.
_LINE_REPLACEMENTS = [r"\g<pre>" + placeholder if "pre" in pattern.groupindex else placeholder
                      for placeholder, pattern, _ in LINE_RULES]
_WHOLE_PLACEHOLDER = {f"g{i}": placeholder for i, (placeholder, _, _) in enumerate(VALUE_RULES)}

# A bare word after "user" names an account: "Invalid user oracle from ...". Words that go on
# the sentence instead ("user is locked", "user not found") are left alone. In key=value form
# ("user=root") the value is kept: there a word is as often an enumeration as a name.
_USER = re.compile(r"([Uu](?<!\w[Uu])(?:ser|SER)(?:name|NAME)?\s++)"
                   r"(?!(?i:is|was|has|had|not|no|does|did|with|from|to|of|in|on|by|for|and|or|"
                   r"the|a|an|session|name|id|account)\b)[A-Za-z_][\w.$-]*")
_LIST = re.compile(r"(<[A-Z]+>)(?:,\1)+")  # "<IP>,<IP>" (a forwarded-for chain) is one value
_LEADER = re.compile(r"(?<=\w)\.{3,}(?=\S)")  # "threshold.......4": dot leaders align columns


def mask_value(chunk: str) -> str:
    """Mask one run of value characters that holds a digit."""
    if chunk.isdigit():
        return "<NUM>"
    whole = _WHOLE.fullmatch(chunk)
    if whole is not None:
        return _WHOLE_PLACEHOLDER[cast(str, whole.lastgroup)]
    # "blk_-42", "/10.0.0.1:80", "core.114": a word part, a separator and one whole value.
    digit = _FIRST_DIGIT.search(chunk)
    start = digit.start() if digit is not None else 0
    if start and chunk[start - 1] in "-+":
        start -= 1
    if start and not chunk[start - 1].isalnum():
        whole = _WHOLE.fullmatch(chunk, start)
        if whole is not None:
            return chunk[:start] + _WHOLE_PLACEHOLDER[cast(str, whole.lastgroup)]
    for placeholder, pattern, guard in VALUE_RULES:
        if guard(chunk):
            chunk = pattern.sub(placeholder, chunk)
    # Values only, glued by punctuation ("<NUM>-<NUM>:<NUM>:<NUM>", an odd time format): one
    # value. Left apart, the separators would split it into a number of tokens that depends on
    # the value, and the same event would fall into several templates.
    if _VALUES_ONLY.fullmatch(chunk):
        first = _PLACEHOLDER.match(chunk)
        if first is not None:
            return first.group()
    return chunk


# Chunks repeat (within a line, and from line to line), and a line of many short chunks made
# mask_value's per-chunk cost the whole cost of masking. Only short chunks are kept, so the
# cache stays small whatever the text.
_CACHED_CHUNK_CHARS = 64
_mask_short_value = lru_cache(maxsize=8192)(mask_value)


def _mask_chunk(match: "re.Match[str]") -> str:
    chunk = match.group()
    return (_mask_short_value(chunk) if len(chunk) <= _CACHED_CHUNK_CHARS
            else mask_value(chunk))


# After the line rules, every later step but the user names reads one white-space separated
# token at a time (a chunk ends at white space, and the clean-ups match inside a token or a
# whole token), and tokens repeat far more often than lines do: each token's result is cached,
# which turns most of the scanning of a line into dictionary look-ups.
_CACHED_TOKEN_CHARS = 64
V = TypeVar("V")
_EMPTY_TOKENS = frozenset(["()", "[]", "{}", '""', "''"])  # a stand-alone "()" is a value


# Host names never span white space and their rule comes last, so it runs per token too.
_HOST_PLACEHOLDER, _HOST, _HOST_GUARD = LINE_RULES[-1]
_SPANNING_RULES = list(zip(LINE_RULES[:-1], _LINE_REPLACEMENTS[:-1]))


def _chunks_masked(token: str) -> str:
    if _HOST_GUARD(token):
        token = _HOST.sub(_HOST_PLACEHOLDER, token)
    return _CHUNK.sub(_mask_chunk, token)


def _cleaned(token: str) -> Tuple[str, ...]:
    """The clean-ups of one masked token; the dot leaders may split it."""
    if "," in token:
        token = _LIST.sub(r"\1", token)
    if token in _EMPTY_TOKENS:
        return (token[0] + "<EMPTY>" + token[1],)
    if "..." in token:
        return tuple(_LEADER.sub(" ", token).split())
    return (token,)


# Plain dicts, emptied when full: on this path they cost less per look-up than an LRU cache.
_MEMO_ENTRIES = 16384
_PIECES: Dict[str, Tuple[str, ...]] = {}
_CHUNKS_MASKED: Dict[str, str] = {}
_CLEANED: Dict[str, Tuple[str, ...]] = {}


def remember(memo: Dict[str, V], key: str, value: V, max_key_chars: Optional[int] = None,
             max_entries: Optional[int] = None) -> V:
    """Keep `value` under a short `key` in a bounded memo (emptied when full); return it.
    Without limits, the masking memos' own."""
    if len(key) <= (max_key_chars or _CACHED_TOKEN_CHARS):
        if len(memo) >= (max_entries or _MEMO_ENTRIES):
            memo.clear()
        memo[key] = value
    return value


def mask_tokens(text: str, user_names: bool = True, fold_repeats: bool = True) -> List[str]:
    """`mask`, as the list of its white-space separated tokens.

    `fold_repeats`: whether a run of one repeated value is one value."""
    for (placeholder, pattern, guard), replacement in _SPANNING_RULES:
        if guard(text):
            text = pattern.sub(replacement, text)
    pieces: List[str] = []
    # A chunk's placeholder never holds "ser", so a line without it before the chunks are
    # masked has none after.
    if user_names and ("ser" in text or "SER" in text):
        masked_token = _CHUNKS_MASKED.get
        masked = " ".join([masked_token(t) or remember(_CHUNKS_MASKED, t, _chunks_masked(t))
                           for t in text.split()])
        if "ser" in masked or "SER" in masked:
            masked = _USER.sub(r"\1<USER>", masked)
        cleaned = _CLEANED.get
        for token in masked.split():
            pieces += cleaned(token) or remember(_CLEANED, token, _cleaned(token))
    else:
        known = _PIECES.get
        for token in text.split():
            found = known(token)
            if found is None:
                found = remember(_PIECES, token, _cleaned(_chunks_masked(token)))
            pieces += found
    if fold_repeats and len(set(pieces)) < len(pieces):
        # "blk_<NUM> blk_<NUM> blk_<NUM>": a list of values of any length is one value.
        pieces = [t for i, t in enumerate(pieces) if not (i and t == pieces[i - 1] and "<" in t)]
    return pieces


def mask(text: str, user_names: bool = True) -> str:
    """Replace the variable parts of one log line by placeholders and fold white space.

    `user_names`: whether a bare word after "user" is masked as an account name."""
    return " ".join(mask_tokens(text, user_names))
