"""The structured answer every provider must return, and its JSON schema."""
from __future__ import annotations

import json
from typing import Any, Dict

from pydantic import BaseModel, Field, ValidationError, field_validator

from ..families import IDS, UNKNOWN, normalise
from ..severity import Severity
from .base import InvalidAnswer


class AnalysisAnswer(BaseModel):
    summary: str = Field(min_length=1, max_length=600)
    # Asked for (the schema requires it, as an enum), but not a reason to refuse an answer:
    # a small model's analysis stays useful with a family it got wrong, and `unknown` says
    # so honestly, where a refusal would cost a second call and then the rules' answer.
    category: str = UNKNOWN
    root_cause: str = Field(min_length=1, max_length=1000)
    recommendation: str = Field(min_length=1, max_length=1000)
    severity: Severity
    confidence: float = Field(ge=0, le=1)

    @field_validator("severity", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("category", mode="before")
    @classmethod
    def _family(cls, value: Any) -> str:
        return normalise(value)

    @field_validator("confidence", mode="after")
    @classmethod
    def _two_places(cls, value: float) -> float:
        # Heimdall's column holds two decimals.
        return round(value, 2)


def answer_schema() -> Dict[str, Any]:
    """JSON schema sent to the model. Confidence is an enum of 0.1 steps because llama.cpp's
    grammar does not enforce numeric bounds; category is required here though the parser
    accepts an answer without it."""
    schema = AnalysisAnswer.model_json_schema()
    schema["properties"]["confidence"] = {
        "type": "number", "enum": [round(i / 10, 1) for i in range(11)]}
    # The families themselves, without children: a grammar-constrained model picks one.
    schema["properties"]["category"] = {"type": "string", "enum": list(IDS)}
    schema["required"] = list(schema["properties"])
    schema.pop("title", None)
    return schema


def parse_answer(text: str) -> AnalysisAnswer:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidAnswer(f"answer is not JSON: {exc}", text) from None
    try:
        return AnalysisAnswer.model_validate(document)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}"
                           for e in exc.errors())
        raise InvalidAnswer(f"answer does not match the schema: {errors}", text) from None
