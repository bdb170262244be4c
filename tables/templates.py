"""Log templates per service: the miner that names a line's template, and the table of the
templates seen so far (for the result's `new_template` and the /templates view).

Template ids are named by the template's text (bifrost_streams/mining/miner.py), so every
worker, partition and restart gives a line the same id without sharing the miner's memory;
the table, changelog-backed, is what survives a restart. Keys are hashed to a changelog
partition like the result cache's, because a template is not tied to a job's partition.
"""
from __future__ import annotations

import time
from typing import Set

from bifrost_streams.app import app
from bifrost_streams.mining.miner import Match, TemplateMiner
from tables.results import KeyHashedTable

templates = app.tables.add(KeyHashedTable(
    app,
    name="templates",
    beacon=app.tables.beacon,
    use_partitioner=True,
    default=None,
    key_type=str,
    help="template id -> {service, template, first_seen}",
))
miner = TemplateMiner()
# Ids known to be in the table: templates are never removed, so the table need not be asked
# again (a miss searches every partition's store).
_recorded: Set[str] = set()


def classify(service: str, text: str) -> Match:
    """The template of a (redacted) log text; records a template seen for the first time."""
    match = miner.add(service, text)
    if match.template_id in _recorded:
        return Match(match.template_id, match.template, False)
    _recorded.add(match.template_id)
    if match.template_id in templates:
        return Match(match.template_id, match.template, False)
    templates[match.template_id] = {"service": service, "template": match.template,
                                     "first_seen": time.time()}
    return Match(match.template_id, match.template, True)

