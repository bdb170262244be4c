"""The severities of an analysis, as the contract spells them, lowest first. Heimdall notifies
on HIGH and CRITICAL."""
from __future__ import annotations

from typing import Literal, get_args

Severity = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
SEVERITIES = get_args(Severity)
