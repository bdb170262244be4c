"""Log templates per service: the miner that names a line's template, and the table of the
templates seen so far (for the result's `new_template` and the /templates view).

Template ids are named by the template's text (bifrost_streams/mining/miner.py), so every
worker, partition and restart gives a line the same id without sharing the miner's memory;
the table, changelog-backed, is what survives a restart. Keys are hashed to a changelog
partition like the result cache's, because a template is not tied to a job's partition.

Both are bounded: the miner keeps BIFROST_MAX_TEMPLATES_PER_SERVICE templates per service,
BIFROST_MAX_TEMPLATES in all and BIFROST_MAX_SERVICES services (the rest share the service
"_overflow"), and a template it lets go leaves the table too. Entries it does not hold
(written before a restart, or by a worker that held this partition before) leave the table
once older than KEEP_SECONDS.
"""
from __future__ import annotations

import time

from bifrost_streams.app import app, settings
from bifrost_streams.mining.miner import Match, MinerConfig, TemplateMiner
from tables import changelog
from tables.results import KeyHashedTable

# The longest occurrence window stays readable this long (tables/template_counts.py): the
# /templates view has no use for an older template's text.
KEEP_SECONDS = 4 * 3600.0

templates = app.tables.add(KeyHashedTable(
    app,
    name="templates",
    beacon=app.tables.beacon,
    use_partitioner=True,
    default=None,
    key_type=str,
    help="template id -> {service, template, first_seen}; bounded with the miner's templates",
))


def _forget(template_id: str) -> None:
    # A tombstone where the key's writes go, only for what the store still holds.
    if templates.data.get(template_id) is not None:
        changelog.remove(templates, templates.partition_for_key(template_id), template_id)


miner = TemplateMiner(MinerConfig(max_templates_per_service=settings.max_templates_per_service,
                                  max_templates=settings.max_templates,
                                  max_services=settings.max_services), on_evict=_forget)


def classify(service: str, text: str) -> Match:
    """The template of a (redacted) log text; records a template seen for the first time.

    A template the miner holds was recorded when it came in, so only a template new to the
    miner asks the table (a miss searches every partition's store)."""
    match = miner.add(service, text)
    if not match.is_new or match.template_id in templates:
        return Match(match.template_id, match.template, False)
    templates[match.template_id] = {"service": match.template_id.rsplit(":", 1)[0],
                                     "template": match.template, "first_seen": time.time()}
    return Match(match.template_id, match.template, True)


def sweep(now: float) -> int:
    """Remove entries the miner does not hold that are older than KEEP_SECONDS; how many."""
    stale = [key for key, entry in list(templates.items())
             if entry is not None and entry.get("first_seen", now) + KEEP_SECONDS <= now
             and not miner.holds(key)]
    for key in stale:
        _forget(key)
    return len(stale)


@app.timer(interval=600.0, on_leader=False)
async def forget_stale_templates() -> None:
    sweep(time.time())
