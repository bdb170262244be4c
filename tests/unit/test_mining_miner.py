import json
import random
import time
from pathlib import Path

import pytest

from bifrost_streams.mining import evaluate
from bifrost_streams.mining.miner import (OVERFLOW_SERVICE, MinerConfig, TemplateMiner,
                                          template_id, tokenize)

LINES = [
    "Connection to 10.0.3.17:5432 timed out after 3000ms",
    "Invalid user oracle from 183.62.140.253",
    "Connection to 10.9.8.7:5432 timed out after 15ms",
    "[instance: 70c1714b-c11b-4c88-b300-239afe1f5ff8] VM Started (Lifecycle Event)",
    "Invalid user admin from 103.207.39.212",
    "[instance: 127e769a-4fe6-4548-93b1-513ac51e0452] VM Stopped (Lifecycle Event)",
    "disk full on /var/lib/data",
    "Received block blk_-1608999 of size 91178 from /10.250.10.6",
    "[instance: d6b7bd36-2943-4363-9235-fffdd89ea40e] VM Started (Lifecycle Event)",
    "disk full on /srv/x",
]

TRACE = """java.lang.IllegalStateException: order {order} not found
\tat com.acme.orders.OrderService.load(OrderService.java:{line})
\tat com.acme.orders.OrderController.get(OrderController.java:17)
"""


def feed(miner, service, lines):
    return [miner.add(service, line) for line in lines]


def test_variants_of_one_event_share_a_template():
    miner = TemplateMiner()
    first, second = feed(miner, "api", [LINES[0], LINES[2]])
    assert first.template_id == second.template_id
    assert first.is_new and not second.is_new
    assert "<*>" in first.template and "timed out" in first.template


def test_different_events_get_different_templates():
    miner = TemplateMiner()
    started, stopped = feed(miner, "nova", [LINES[3], LINES[5]])
    # One word apart is still another event: merging them would serve the wrong analysis.
    assert started.template_id != stopped.template_id
    assert stopped.is_new


def test_template_ids_are_stable_across_a_stream():
    miner = TemplateMiner()
    ids = [m.template_id for m in feed(miner, "svc", LINES)]
    assert ids[3] == ids[8] and ids[6] == ids[9] and ids[1] == ids[4]
    assert len(set(ids)) == 6


def test_template_ids_name_their_service_and_are_never_shared():
    miner = TemplateMiner()
    a = feed(miner, "billing", LINES)
    b = feed(miner, "search", LINES)
    assert all(m.template_id.startswith("billing:") for m in a)
    assert all(m.template_id.startswith("search:") for m in b)
    assert not {m.template_id for m in a} & {m.template_id for m in b}
    # The other service starts from scratch: its first lines are new templates too.
    assert b[0].is_new


def test_service_names_with_separators_stay_apart():
    miner = TemplateMiner()
    x = miner.add("a:1", "boom").template_id
    y = miner.add("a", "boom").template_id
    assert x != y
    assert x.rsplit(":", 1)[0] == "a:1" and y.rsplit(":", 1)[0] == "a"


def test_state_round_trip_gives_identical_ids():
    original = TemplateMiner()
    feed(original, "svc", LINES[:6])
    original.add("svc", TRACE.format(order=1, line=42))
    state = json.loads(json.dumps(original.export_state("svc")))  # as a Faust table keeps it

    restored = TemplateMiner()
    restored.restore_state("svc", state)
    later = LINES + ["a brand new error 7", TRACE.format(order=2, line=43), "another one"]
    expected = [(m.template_id, m.template, m.is_new) for m in feed(original, "svc", later)]
    got = [(m.template_id, m.template, m.is_new) for m in feed(restored, "svc", later)]
    assert got == expected
    assert [new for _, _, new in got] == [False] * 6 + [True, True, False, False, True, False,
                                                        True]


def test_state_bytes_round_trip():
    original = TemplateMiner()
    feed(original, "svc", LINES)
    blob = original.dumps("svc")
    assert isinstance(blob, bytes) and len(blob) < 2000
    restored = TemplateMiner()
    restored.loads("svc", blob)
    assert restored.export_state("svc") == original.export_state("svc")
    assert [m.template_id for m in feed(restored, "svc", LINES)] == \
        [m.template_id for m in feed(original, "svc", LINES)]


def test_restore_only_touches_its_service():
    miner = TemplateMiner()
    other = miner.add("other", "boom 1").template_id
    donor = TemplateMiner()
    feed(donor, "svc", LINES)
    miner.restore_state("svc", donor.export_state("svc"))
    assert miner.add("other", "boom 2").template_id == other
    assert miner.services() == ["other", "svc"]


def test_restore_refuses_state_of_another_configuration_or_version():
    donor = TemplateMiner()
    feed(donor, "svc", LINES)
    state = donor.export_state("svc")
    with pytest.raises(ValueError):
        TemplateMiner(MinerConfig(top_frames=2)).restore_state("svc", state)
    with pytest.raises(ValueError):
        TemplateMiner().restore_state("svc", {**state, "version": 99})


def test_stack_traces_are_grouped_by_fingerprint():
    miner = TemplateMiner()
    first = miner.add("svc", TRACE.format(order=1, line=42))
    again = miner.add("svc", TRACE.format(order=99, line=57))
    other = miner.add("svc", TRACE.format(order=1, line=42).replace("Illegal", "Unsupported"))
    assert first.template_id == again.template_id
    assert first.template_id.startswith("svc:trace-")
    assert first.is_new and not again.is_new and other.is_new
    assert other.template_id != first.template_id
    assert "java.lang.IllegalStateException" in first.template
    assert miner.add("elsewhere", TRACE.format(order=1, line=42)).template_id != \
        first.template_id


def test_multi_line_text_without_a_trace_is_mined_whole():
    miner = TemplateMiner()
    a = miner.add("svc", "request 1 failed\nretrying in 5s")
    b = miner.add("svc", "request 2 failed\nretrying in 9s")
    c = miner.add("svc", "request 2 failed\ngave up")
    assert a.template_id == b.template_id != c.template_id


def test_tokenize_turns_values_into_wildcards_and_keeps_punctuation():
    assert tokenize("rhost=<IP> user=root (<EMPTY>) ssh2 jk2_init()") == \
        ["rhost", "=", "<*>", "user", "=", "root", "(", "<*>", ")", "<*>", "<*>", "(", ")"]


def test_lines_that_differ_in_a_word_never_share_a_template():
    lines = ["VM Started on host", "VM Stopped on host"]
    assert len({m.template_id for m in feed(TemplateMiner(), "s", lines)}) == 2


def test_template_ids_do_not_depend_on_arrival_order_or_miner():
    first = [m.template_id for m in feed(TemplateMiner(), "svc", LINES)]
    second = [m.template_id for m in feed(TemplateMiner(), "svc", list(reversed(LINES)))]
    assert first == list(reversed(second))


# --- the evaluation's metrics -------------------------------------------------------------------

def test_grouping_accuracy_counts_only_exact_groups():
    truth = ["A", "A", "B", "B", "C"]
    assert evaluate.grouping_accuracy(["1", "1", "2", "2", "3"], truth) == 1.0
    # Splitting A loses both of its lines; merging B with C loses all three.
    assert evaluate.grouping_accuracy(["1", "9", "2", "2", "3"], truth) == pytest.approx(0.6)
    assert evaluate.grouping_accuracy(["1", "1", "2", "2", "2"], truth) == pytest.approx(0.4)


def test_wrong_cache_rate_counts_lines_served_another_events_analysis():
    truth = ["A", "B", "A", "B"]
    assert evaluate.wrong_cache_rate(["1", "2", "1", "2"], truth) == 0.0
    assert evaluate.wrong_cache_rate(["1", "1", "1", "2"], truth) == pytest.approx(0.25)


def test_evaluate_command_runs_on_a_directory_of_the_loghub_layout(tmp_path: Path, capsys):
    data = tmp_path / "Tiny"
    data.mkdir()
    rows = ["LineId,Content,EventId"]
    for i in range(20):
        rows.append(f"{i},Connection to 10.0.0.{i}:80 timed out after {i}ms,E1")
        rows.append(f"{i},disk full on /var/{i}/x,E2")
    (data / "Tiny_2k.log_structured.csv").write_text("\n".join(rows) + "\n")
    assert evaluate.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    tiny = next(line for line in out.splitlines() if line.startswith("Tiny"))
    assert tiny.split()[1:6] == ["40", "1.000", "2", "2", "1.00"]
    assert "mean" in out and "target mean grouping accuracy" in out


# --- bounds ---------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _random_line(rng: random.Random) -> str:
    # Letters only: masking leaves them alone, so nearly every line is a template of its own.
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
             for _ in range(rng.randint(2, 8))]
    return "ERROR " + " ".join(words)


def test_the_bounds_hold_under_100000_unique_lines():
    evicted = []
    clock = Clock()
    miner = TemplateMiner(MinerConfig(max_templates_per_service=200, max_services=20),
                          on_evict=evicted.append, clock=clock)
    rng = random.Random(7)
    created = 0
    for i in range(100_000):
        clock.now = i * 0.001  # 100 s in all: no service is idle long enough to leave
        created += miner.add(f"svc-{rng.randrange(60)}", _random_line(rng)).is_new
    services = miner.services()
    assert len(services) == 21 and OVERFLOW_SERVICE in services  # 20 and the overflow
    assert all(miner.template_count(name) == 200 for name in services)
    assert miner.template_count() == 21 * 200
    # Every template made and not kept was handed to on_evict, once.
    assert created - len(evicted) == miner.template_count()
    assert len(set(evicted)) == len(evicted) and not any(miner.holds(t) for t in evicted)


def test_the_least_recently_used_template_leaves_first_and_comes_back_with_its_id():
    evicted = []
    miner = TemplateMiner(MinerConfig(max_templates_per_service=10), on_evict=evicted.append)
    lines = [f"ERROR step {word} failed" for word in "abcdefghijklmnop"]
    first = [miner.add("svc", line) for line in lines[:10]]
    miner.add("svc", lines[0])  # used again: now the most recent
    miner.add("svc", lines[10])
    assert evicted == [first[1].template_id]
    assert miner.holds(first[0].template_id) and not miner.holds(first[1].template_id)
    again = miner.add("svc", lines[1])
    assert again.template_id == first[1].template_id and again.is_new
    assert miner.template_count("svc") == 10


def test_services_beyond_the_bound_share_the_overflow_service_until_one_is_idle():
    clock = Clock()
    evicted = []
    config = MinerConfig(max_services=2, service_idle_seconds=60)
    miner = TemplateMiner(config, on_evict=evicted.append, clock=clock)
    a = miner.add("a", "ERROR disk full")
    miner.add("b", "ERROR disk full")
    c = miner.add("c", "ERROR disk full")
    d = miner.add("d", "ERROR disk full")
    # Deterministic: the overflow service's ids are named by the text like any other.
    assert c.template_id == d.template_id == template_id(OVERFLOW_SERVICE, c.template)
    assert c.is_new and not d.is_new
    assert miner.services() == [OVERFLOW_SERVICE, "a", "b"]
    clock.now = 30.0
    miner.add("b", "ERROR disk full")
    clock.now = 61.0  # "a" idle for 61 s, "b" for 31 s
    e = miner.add("e", "ERROR disk full")
    assert e.template_id == template_id("e", e.template) and e.is_new
    assert miner.services() == [OVERFLOW_SERVICE, "b", "e"]
    assert evicted == [a.template_id]


def test_a_known_line_is_found_at_once_among_12000_templates():
    """Every template here has the same length and first words: Drain's prefix tree put them
    all in one leaf and compared each line with all of them. Timing goes to the output only
    (see `python -m benchmarks.memory` for the figures)."""
    def line(i: int) -> str:
        word = "".join("abcdefghijklmnopqrstuvwxyz"[int(d)] for d in f"{i:05d}")
        return f"ERROR payment worker {word} failed"

    def per_line_ms(miner: TemplateMiner, text: str, rounds: int = 2000) -> float:
        started = time.perf_counter()
        for _ in range(rounds):
            match = miner.add("svc", text)
        assert not match.is_new
        return (time.perf_counter() - started) / rounds * 1000

    fresh = TemplateMiner()
    known = fresh.add("svc", line(0))
    fresh_ms = per_line_ms(fresh, line(0))
    full = TemplateMiner()
    ids = [full.add("svc", line(i)).template_id for i in range(12_000)]
    assert len(set(ids)) == 12_000 and ids[0] == known.template_id
    full_ms = per_line_ms(full, line(0))
    print(f"known line: {fresh_ms:.4f} ms fresh, {full_ms:.4f} ms after 12,000 templates")
