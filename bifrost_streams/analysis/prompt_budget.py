"""Fitting what the model reads into its context window.

A prompt longer than the window is cut by the server without a word (Ollama keeps the end),
and the answer needs room too. So the prompt is planned in characters from a token budget:
the context (the template's figures, the lines logged just before) goes first when room is
short, then the middle of the log text, keeping its head (the error and top frames) and its
tail (the root cause), with the cut marked (bounds.cut). What was sent and cut is reported
in `result.prompt`.

Pure functions, no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from .. import bounds

# Logs are numbers, punctuation and identifiers: about 3 characters a token in the tokenizers
# of the models we run, fewer than prose's 4. Counting low would overflow the window.
CHARS_PER_TOKEN = 3
ANSWER_TOKENS = 512  # room kept for the JSON answer
# Without BIFROST_MODEL_CONTEXT_TOKENS: Ollama's default window (num_ctx) and a cloud model's.
DEFAULT_CONTEXT_TOKENS: Mapping[str, int] = {"ollama": 2048, "bedrock": 100_000}
MIN_LOG_CHARS = 400  # below this the context is dropped rather than the log cut further
CONTEXT_LINE_CHARS = 300
CONTEXT_LINES = 5


@dataclass(frozen=True)
class Fitted:
    log: str
    context: str  # the section put before the prompt's own text; "" for none
    report: Dict[str, Any]  # result.prompt


def window(providers: Iterable[str], configured: Optional[int]) -> Optional[int]:
    """The smallest context window (tokens) among the route's model providers; None when none
    of them has one (the rules provider reads no prompt)."""
    sizes = [configured or DEFAULT_CONTEXT_TOKENS[name] for name in providers
             if name in DEFAULT_CONTEXT_TOKENS]
    return min(sizes) if sizes else None


def tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def figures_line(template: Mapping[str, Any]) -> str:
    """The template's figures, as the model reads them."""
    seen = "new: first seen now" if template.get("new_template") else "seen before"
    counts = ", ".join(f"{count} in the last {name}"
                       for name, count in (template.get("occurrences") or {}).items())
    return f"This error's template is {seen}; occurrences: {counts or 'unknown'}."


def context_section(figures: str, lines: Sequence[str]) -> str:
    if not lines:
        return f"Context: {figures}\n\n"
    shown = "\n".join(line[:CONTEXT_LINE_CHARS] for line in lines[-CONTEXT_LINES:])
    return (f"Context: {figures}\nLines logged just before, by the same service (context, "
            f"not the error itself):\n{shown}\n\n")


def fit(log: str, figures: str, lines: List[str], overhead_chars: int,
        window_tokens: Optional[int], max_log_chars: int) -> Fitted:
    """The log text and context that fit `window_tokens` with the prompt's own text
    (`overhead_chars`) and the answer's room; at most `max_log_chars` of log in any case."""
    context = context_section(figures, lines)
    room = max_log_chars
    if window_tokens is not None:
        room = min(room, (window_tokens - ANSWER_TOKENS) * CHARS_PER_TOKEN - overhead_chars)
    dropped = False
    if room - len(context) < min(len(log), MIN_LOG_CHARS):
        context, dropped = "", True
    else:
        room -= len(context)
    kept = bounds.cut(log, max(room, MIN_LOG_CHARS))
    report: Dict[str, Any] = {
        "estimated_tokens": tokens(overhead_chars + len(context) + len(kept.text)),
        "context_window": window_tokens,
        "context_lines": len(lines[-CONTEXT_LINES:]) if context else 0,
        "context_dropped": dropped,
        "log_chars_cut": kept.cut_chars,
    }
    return Fitted(kept.text, context, report)
