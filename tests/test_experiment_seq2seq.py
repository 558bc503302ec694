"""The chapter-11 experiment script (lstm_from_scratch.experiments.seq2seq): its scoring, a quick
run end to end, and (slow) a re-run of the start of the recorded runs."""
from pathlib import Path

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch.data import number_words
from lstm_from_scratch.experiments import read_results
from lstm_from_scratch.experiments import seq2seq as experiment

RECORD = Path(__file__).resolve().parents[1] / "book" / "data" / "seq2seq.json"


def test_score_exact_match_and_token_accuracy():
    split = number_words(5, 1, 3, max_digits=3, seed=0).test
    right = split.tgt_out.copy()                       # the targets themselves, <eos> included
    exact, acc = experiment.score(right, split)
    assert exact.all() and (acc == 1).all()
    wrong = right.copy()
    wrong[0, 0] = (wrong[0, 0] % 10) + 3               # one wrong digit in row 0
    wrong[1, :] = 0                                    # row 1: nothing emitted
    exact, acc = experiment.score(wrong, split)
    assert exact.tolist() == [False, False, True]
    T = split.tgt_lengths
    assert acc[0] == pytest.approx((T[0] - 1) / T[0]) and acc[1] == 0 and acc[2] == 1
    longer = np.zeros((3, right.shape[1] + 4), dtype=np.int64)     # decoded longer than T
    longer[:, :right.shape[1]] = right
    assert experiment.score(longer, split)[0].all()


def test_by_bucket_means_and_counts():
    values = np.array([1.0, 0.0, 1.0, 1.0])
    lengths = np.array([2, 5, 8, 19])
    means, counts = experiment.by_bucket(values, lengths)
    assert counts == [2, 1, 0, 0, 1] and means[0] == 0.5 and means[2] is None


def test_quick_run_writes_results_and_checkpoints(tmp_path):
    out = tmp_path / "s2s.json"
    runs = experiment.main(["--quick", "--out", str(out), "--seeds", "0", "1",
                            "--models", "encoder-decoder", "general"])
    record = read_results(out)
    assert record["provenance"]["command"].startswith(
        "python -m lstm_from_scratch.experiments.seq2seq --quick")
    assert "wall_time_s" in record["provenance"] and len(record["runs"]) == 4 == len(runs)
    assert record["bucket_names"] == ["1-6", "7-9", "10-12", "13-15", "16-19"]
    r = record["runs"][0]
    assert len(r["first_losses"]) == record["config"]["record_first"]
    assert len(r["test"]["exact_match_by_length"]) == 5 and len(r["val_curve"]) == 2
    # checkpoints for the first seed only; they load into a fresh model and reproduce its score
    files = sorted(p.name for p in tmp_path.glob("*.npz"))
    assert files == ["s2s_encoder_decoder.npz", "s2s_general.npz"]
    cfg = record["config"]
    data = experiment.load_data(cfg)
    model = experiment.build_model("general", 5, cfg, data)
    model.load_state_dict(lfs.io.load(tmp_path / "s2s_general.npz"))
    assert experiment.evaluate(model, data.test) == record["runs"][1]["test"]
    # the same runs in two worker processes give the same numbers, in the same order
    experiment.main(["--quick", "--out", str(tmp_path / "par.json"), "--seeds", "0", "1",
                     "--models", "encoder-decoder", "general", "--jobs", "2"])
    parallel = read_results(tmp_path / "par.json")
    assert parallel["provenance"]["jobs"] == 2
    for a, b in zip(record["runs"], parallel["runs"]):
        for key in ("model", "seed", "first_losses", "loss_every_100", "val_curve", "test"):
            assert a[key] == b[key]


def test_a_seed_gives_the_same_start_and_the_same_losses():
    cfg = dict(experiment.CONFIG, **experiment.QUICK)
    data = experiment.load_data(cfg)
    a = experiment.train(experiment.build_model("additive", 3, cfg, data), data, cfg, 3, steps=3)
    b = experiment.train(experiment.build_model("additive", 3, cfg, data), data, cfg, 3, steps=3)
    c = experiment.train(experiment.build_model("additive", 4, cfg, data), data, cfg, 4, steps=3)
    assert a == b and a != c


@pytest.mark.slow
@pytest.mark.parametrize("name", list(experiment.MODELS))
def test_the_recorded_runs_start_as_recorded(name):
    """Re-run the first recorded steps (more than the chapter's live re-run) of seed 0."""
    record = read_results(RECORD)
    cfg = record["config"]
    data = experiment.load_data(cfg)
    run = next(r for r in record["runs"] if r["model"] == name and r["seed"] == 0)
    steps = len(run["first_losses"])
    model = experiment.build_model(record["models"][name], 0, cfg, data)
    losses = experiment.train(model, data, cfg, seed=0, steps=steps)
    np.testing.assert_allclose(losses, run["first_losses"], rtol=1e-3, atol=1e-4)
    assert np.mean(losses[-10:]) < 0.9 * np.mean(losses[:10])            # it is learning
