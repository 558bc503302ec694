"""The provenance every recorded experiment carries."""
import json

import numpy as np

import pytest

import lstm_from_scratch as lfs
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


def test_built_on_cpu_gives_the_cpu_weights_on_any_device(cupy_standin):
    from lstm_from_scratch.experiments import built_on_cpu

    default = lfs.get_device()
    lfs.manual_seed(3)
    on_cpu = lfs.nn.Linear(4, 3, device="cpu")
    lfs.manual_seed(3)
    moved = built_on_cpu(lambda: lfs.nn.Linear(4, 3), device="gpu")
    assert moved.weight.device == "gpu" and lfs.get_device() == default
    np.testing.assert_array_equal(moved.weight.numpy(), on_cpu.weight.numpy())
    # why it exists: the GPU generator draws another stream from the same seed
    lfs.manual_seed(3)
    drawn_on_gpu = lfs.nn.Linear(4, 3, device="gpu")
    assert not np.array_equal(drawn_on_gpu.weight.numpy(), on_cpu.weight.numpy())
    with pytest.raises(ZeroDivisionError):                  # the default device comes back
        built_on_cpu(lambda: 1 / 0)
    assert lfs.get_device() == default


def test_char_lm_checkpoints_are_named_after_the_results_file(tmp_path, monkeypatch):
    """A second experiment (another --out in the same folder) must not overwrite the first
    one's checkpoints; the record names the file it wrote."""
    from types import SimpleNamespace

    from lstm_from_scratch import io
    from lstm_from_scratch.experiments import char_lm as X

    config = {**X.CONFIG, "hidden_size": 8, "embedding_dim": 4, "num_layers": 1}

    def untrained(cell, config, data, **kw):                # no training: naming only
        model = X.build_model(cell, len(data[0].vocab), config)
        history = SimpleNamespace(best_epoch=0, epochs=1, train_loss=[1.0], val_loss=[1.0],
                                  batch_loss=[1.0])
        return model, history, []

    monkeypatch.setattr(X, "train_model", untrained)
    for out in ("char_lm.json", "char_lm_dropout.json"):
        run = X._run_one("rnn", config, tmp_path / out)
        assert run["checkpoint"] == out.replace(".json", "_rnn.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["char_lm_dropout_rnn.npz",
                                                          "char_lm_rnn.npz"]
    assert str(io.load(tmp_path / "char_lm_rnn.npz")["meta/cell"]) == "rnn"
