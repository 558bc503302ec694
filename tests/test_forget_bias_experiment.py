"""Chapter 6's forget-bias experiment (lstm_from_scratch.experiments.forget_bias): the script runs,
and re-running part of it reproduces the committed record (book/data/forget_bias.json)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lstm_from_scratch.experiments import forget_bias, read_results

RECORD = Path(__file__).resolve().parent.parent / "book" / "data" / "forget_bias.json"


def test_a_short_run_and_its_record(tmp_path):
    config = dict(forget_bias.CONFIG, steps=50, eval_every=25, n_val=64)
    record, model = forget_bias.train_adding(1.0, 3, config=config)
    assert record["steps"] == [25, 50] and len(record["val_mse"]) == 2
    assert all(np.isfinite(record["val_mse"]))
    # the same seed gives the same run; another bias changes it
    again, _ = forget_bias.train_adding(1.0, 3, config=config)
    other, _ = forget_bias.train_adding(0.0, 3, config=config)
    assert again["val_mse"] == record["val_mse"] != other["val_mse"]
    # forget_bias moved the forget block of bias_ih (rows H:2H) and nothing else
    H = config["hidden_size"]
    b1 = forget_bias.train_adding(1.0, 3, steps=0, config=config)[1].lstm.bias_ih_l0.numpy()
    b0 = forget_bias.train_adding(0.0, 3, steps=0, config=config)[1].lstm.bias_ih_l0.numpy()
    assert np.allclose(b1 - b0, np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)])


def test_the_record_has_every_run():
    rec = read_results(RECORD)
    assert rec["config"] == forget_bias.CONFIG
    pairs = {(r["forget_bias"], r["seed"]) for r in rec["runs"]}
    assert pairs == {(fb, s) for fb in forget_bias.BIASES for s in forget_bias.SEEDS}
    for key in ("command", "commit", "machine", "wall_time_s"):
        assert rec["provenance"][key]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_reruns_reproduce_the_record(seed):
    """Two more seeds than the chapter re-runs: same steps to the threshold, same curve to 3
    decimals (the chapter's printed precision)."""
    rec = read_results(RECORD)
    for fb in forget_bias.BIASES:
        stored = next(r for r in rec["runs"] if r["seed"] == seed and r["forget_bias"] == fb)
        live, _ = forget_bias.train_adding(fb, seed, steps=stored["first_below"],
                                           stop_below=True)
        assert live["first_below"] == stored["first_below"]
        n = len(live["val_mse"])
        assert np.allclose(live["val_mse"], stored["val_mse"][:n], atol=5e-4)
