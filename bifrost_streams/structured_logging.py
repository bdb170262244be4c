"""structlog JSON lines on stderr, carrying job_id and trace_id, with secrets redacted."""
from __future__ import annotations

import logging
import sys
from typing import Any, Dict, List

import structlog

from .redaction import Rule, redact_text


def configure(level: str, rules: List[Rule]) -> None:
    def _redact_values(_: Any, __: str, event: Dict[str, Any]) -> Dict[str, Any]:
        return {key: redact_text(value, rules) if isinstance(value, str) else value
                for key, value in event.items()}

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_values,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
