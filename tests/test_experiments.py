"""The provenance every recorded experiment carries."""
import json

import pytest

from lstm_from_scratch.experiments import provenance, read_results, write_results


def test_provenance_names_the_module_command_and_machine():
    meta = provenance(["/x/lstm_from_scratch/experiments/gates.py", "--out", "a b.json"])
    assert meta["command"] == "python -m lstm_from_scratch.experiments.gates --out 'a b.json'"
    assert meta["device"] == "cpu" or meta["device"].startswith("gpu: ")
    for key in ("commit", "library_version", "python", "numpy", "machine", "date"):
        assert key in meta
    json.dumps(meta)  # serialisable


def test_results_round_trip(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_results(path, {"provenance": {"command": "c"}, "runs": [1.5, 2]})
    assert read_results(path) == {"provenance": {"command": "c"}, "runs": [1.5, 2]}
    assert not list(path.parent.glob("*.tmp"))


@pytest.mark.slow
def test_char_lm_record_reproduces():
    """Chapter 7's record: the first five training losses of the LSTM and every model's test bits
    per character, recomputed from the committed checkpoints."""
    from pathlib import Path

    import numpy as np

    from lstm_from_scratch import lm
    from lstm_from_scratch.experiments import char_lm as X

    data_dir = Path(__file__).resolve().parents[1] / "book" / "data"
    record = read_results(data_dir / "char_lm.json")
    cfg = record["config"]
    data = X.load_data(cfg)
    assert data[0].info["sha256"] == record["corpus"]["sha256"]
    _, history, _ = X.train_model("lstm", cfg, data, epochs=1, max_chunks=5)
    assert np.allclose(history.batch_loss, record["runs"]["lstm"]["first_losses"], atol=5e-4)
    for cell, run in record["runs"].items():
        model, vocab = X.load_model(data_dir / run["checkpoint"], cfg)
        assert lm.count_parameters(model) == run["parameters"]
        assert abs(lm.bits_per_char(model, data[0].ids("test")) - run["test_bpc"]) < 1e-3
    base = X.baselines(data[0])
    assert base["kneser_ney_best_order"] == record["baselines"]["kneser_ney_best_order"]
