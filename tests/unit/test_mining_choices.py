"""The miner's learnable choices, its per-token caches, and the leave-one-set-out procedure."""
from pathlib import Path

import pytest

from bifrost_streams.mining import evaluate, masking
from bifrost_streams.mining.miner import MinerConfig, TemplateMiner

LINES = [
    "Invalid user oracle from 183.62.140.253",
    "Deleting blk_1 blk_2 blk_3",
    "K10 ready",
    "authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.0.0.1  user=root",
    "Accepted publickey for x.example.com port 22 ()",
    "threshold.......4 cpu...ok",
]


def template(config: MinerConfig, line: str) -> str:
    return TemplateMiner(config).add("svc", line).template


def test_mask_tokens_are_the_masked_line_split():
    for line in LINES:
        assert masking.mask_tokens(line) == masking.mask(line).split()


def test_each_choice_changes_what_it_names_and_nothing_else():
    default = MinerConfig()
    assert template(default, LINES[0]) == "Invalid user <*> from <*>"
    assert template(MinerConfig(mask_user_names=False), LINES[0]) == "Invalid user oracle from <*>"
    assert template(default, LINES[1]) == "Deleting <*>"
    assert template(MinerConfig(fold_repeated_values=False), LINES[1]) == "Deleting <*> <*> <*>"
    assert template(default, LINES[2]) == "<*> ready"
    assert template(MinerConfig(digits_make_values=False), LINES[2]) == "K10 ready"


def test_a_choice_at_its_default_leaves_exported_states_valid():
    assert MinerConfig().matching() == {"delimiters": MinerConfig().delimiters, "top_frames": 5}
    assert MinerConfig(mask_user_names=False).matching()["mask_user_names"] is False
    state = TemplateMiner().export_state("svc")
    with pytest.raises(ValueError):
        TemplateMiner(MinerConfig(fold_repeated_values=False)).restore_state("svc", state)


def test_token_memos_stay_bounded(monkeypatch):
    monkeypatch.setattr(masking, "_MEMO_ENTRIES", 50)
    for i in range(500):
        masking.mask(f"token{i}x value{i}y")
        masking.mask(f"user name{i} is {i}z")
    assert len(masking._PIECES) <= 50 and len(masking._CHUNKS_MASKED) <= 50
    long_token = "a1" * 100
    masking.mask(long_token)
    assert long_token not in masking._PIECES


def test_a_miner_gives_the_same_templates_with_cold_and_warm_memos():
    first = [template(MinerConfig(), line) for line in LINES]
    masking._PIECES.clear()
    masking._CHUNKS_MASKED.clear()
    masking._CLEANED.clear()
    assert [template(MinerConfig(), line) for line in LINES] == first


# --- leave one set out --------------------------------------------------------------------------

def test_candidates_are_every_combination_with_the_base_first():
    configs = evaluate.candidates(MinerConfig())
    assert configs[0] == MinerConfig()
    assert len(configs) == len(set(configs)) == 2 ** len(evaluate.CHOICES)


def test_choice_prefers_safe_then_accurate_then_the_default():
    safe = evaluate.Score(0.90, 1.0, 0.0)
    better = evaluate.Score(0.95, 1.0, 0.0)
    unsafe = evaluate.Score(0.99, 1.0, 0.02)
    scores = {"A": [safe, better, unsafe], "B": [safe, better, safe], "C": [unsafe, unsafe, safe]}
    assert evaluate.choose(scores, ["A", "B"]) == 1
    # The third is the most accurate on A and B but serves wrong analyses on A.
    assert evaluate.choose({"A": [safe, safe, unsafe]}, ["A"]) == 0
    assert evaluate.choose(scores, []) == 0


def test_leave_one_out_scores_each_set_with_a_choice_made_without_it():
    one = evaluate.DataSet("One", ["K10 ready", "K11 ready"], ["E1", "E1"])
    two = evaluate.DataSet("Two", ["K10 ready", "K11 ready"], ["E1", "E2"])
    configs = [MinerConfig(), MinerConfig(digits_make_values=False)]
    picks = dict((name, (index, score)) for name, index, score in
                 evaluate.leave_one_out([one, two], configs))
    # Two wants the digits kept; One is scored with that choice and loses its group.
    assert picks["One"][0] == 1 and picks["One"][1].accuracy == 0.0
    assert picks["Two"][0] == 0 and picks["Two"][1].accuracy == 0.0


def test_evaluate_prints_the_leave_one_out_figures(tmp_path: Path, capsys):
    for name in ("Tiny", "Small"):
        data = tmp_path / name
        data.mkdir()
        rows = ["LineId,Content,EventId"]
        for i in range(10):
            rows.append(f"{i},Connection to 10.0.0.{i}:80 timed out after {i}ms,E1")
        (data / f"{name}_2k.log_structured.csv").write_text("\n".join(rows) + "\n")
    assert evaluate.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "leave one data set out" in out
    assert "equal the per-set ones" in out
    assert "PASS  leave-one-out mean grouping accuracy: 1.000" in out
    assert sum(line.startswith(("PASS", "MISS")) for line in out.splitlines()) == 4
