"""Ask one provider about each item, as the router would, and record what came back."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from pydantic import ValidationError

from ..families import is_valid
from ..prompts import build_prompt
from ..providers.answer import AnalysisAnswer, answer_schema
from ..providers.base import Answer, InvalidAnswer, Provider, ProviderError
from ..providers.router import retry_prompt
from .corpus import Item
from .grounding import ungrounded
from .scoring import Outcome, answer_family


def conforms(answer: Answer) -> bool:
    """The answer meets the result schema: the fields a model must send, and a family from
    the list. Model providers parse their reply against it; the rules provider builds its
    answer itself, so it is checked here alike."""
    fields = {name: getattr(answer, name) for name in AnalysisAnswer.model_fields
              if hasattr(answer, name)}
    try:
        AnalysisAnswer.model_validate(fields)
    except ValidationError:
        return False
    category = getattr(answer, "category", None)
    return category is None or is_valid(category)


async def ask(provider: Provider, item: Item, schema: Dict[str, Any],
              timeout: float) -> Outcome:
    prompt = build_prompt(item.text, service=None, environment=None, priority=item.priority)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    started = time.perf_counter()
    try:
        try:
            answer = await provider.analyze(prompt, schema, deadline)
        except InvalidAnswer as exc:
            # The router's one second chance, with the validation error in the prompt.
            answer = await provider.analyze(retry_prompt(prompt, str(exc), exc.text), schema,
                                            deadline)
    except (InvalidAnswer, ProviderError) as exc:
        return Outcome(expected=item.family, band=item.band,
                       error=f"{type(exc).__name__}: {str(exc)[:200]}",
                       rejected=isinstance(exc, InvalidAnswer))
    elapsed = (time.perf_counter() - started) * 1000
    return Outcome(
        expected=item.family, band=item.band, family=answer_family(answer),
        severity=answer.severity, valid=conforms(answer), latency_ms=elapsed,
        tokens=answer.prompt_tokens + answer.completion_tokens,
        ungrounded=tuple(ungrounded(f"{answer.summary}\n{answer.root_cause}", item.text)))


async def run(provider: Provider, items: Sequence[Item], timeout: float,
              progress: Optional[Callable[[int, int], None]] = None) -> List[Outcome]:
    """One item at a time, so the latencies are the provider's own and not a queue's."""
    schema = answer_schema()
    outcomes: List[Outcome] = []
    for index, item in enumerate(items, 1):
        outcomes.append(await ask(provider, item, schema, timeout))
        if progress is not None:
            progress(index, len(items))
    return outcomes
