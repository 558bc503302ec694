"""The sweep of chapter 8 (experiments.gates): its pieces, and (slow) that the committed
record reproduces."""
import math
from pathlib import Path

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch.experiments import gates, read_results
from lstm_from_scratch.experiments.stacked import Stacked

RECORD = Path(__file__).resolve().parent.parent / "book" / "data" / "gates.json"


def test_task_shapes_and_memoryless_baselines():
    rng = np.random.default_rng(0)
    for task, spec in gates.TASKS.items():
        x, y = spec["batch"](4, 10, rng)
        assert x.shape[-1] == spec["input_size"], task
    x, y = gates.TASKS["copy"]["batch"](4, 10, rng)
    assert x.shape == (4, 10 + 2 * gates.COPY_LENGTH, gates.COPY_SYMBOLS + 2)
    assert gates.TASKS["copy"]["baseline"](10) == pytest.approx(
        gates.COPY_LENGTH * math.log(8) / (10 + 2 * gates.COPY_LENGTH))
    assert gates.TASKS["order"]["baseline"](50) == pytest.approx(math.log(4))
    assert gates.TASKS["adding"]["baseline"](50) == pytest.approx(1 / 6)


@pytest.mark.parametrize("task", list(gates.TASKS))
def test_per_model_loss_of_a_memoryless_predictor_is_the_baseline(task):
    """The best predictor that ignores the inputs scores the baseline the criterion uses."""
    T, n = 10, 4000
    x, y = gates.validation_set(task, T, n, "cpu")
    spec = gates.TASKS[task]
    if task == "adding":
        out = lfs.full((1, n, 1), 1.0)
    elif task == "order":
        out = lfs.zeros(1, n, 4)                                   # uniform
    else:                                                          # blanks, then uniform
        logits = np.zeros((1, T + 2 * gates.COPY_LENGTH, n, gates.COPY_SYMBOLS + 1), np.float32)
        logits[:, : T + gates.COPY_LENGTH, :, 0] = 50.0
        logits[:, T + gates.COPY_LENGTH:, :, 0] = -50.0
        out = lfs.tensor(logits)
    loss, acc = gates.per_model_loss(task, out, y, accuracy=True)
    assert loss.numpy()[0] == pytest.approx(spec["baseline"](T), rel=0.03)


def test_run_config_record_and_summary():
    rec = gates.run_config("LSTM", "adding", 6, [0, 1],
                           dict(steps=20, eval_every=10, n_val=16, n_reach=4))
    assert rec["seeds"] == [0, 1] and rec["eval_steps"] == [10, 20] and rec["steps_run"] == 20
    assert len(rec["val_loss"]) == 2 and len(rec["val_loss"][0]) == 2
    assert rec["parameters"] == 4 * 32 * (2 + 32 + 2) + 33
    assert rec["reach"]["k"] == [1, 2, 3, 5] and len(rec["reach"]["c_final"]) == 4
    again = gates.run_config("LSTM", "adding", 6, [1],
                             dict(steps=20, eval_every=10, n_val=16, n_reach=4))
    # a seed's run does not depend on the other seeds of its stack
    assert again["val_loss"][0] == rec["val_loss"][1]
    assert all(c["ok"] for c in gates.compare(rec, again))
    s = gates.summary({"solved_step": [100, None, 300, 200]})
    assert s == dict(solved=3, seeds=4, rate=0.75, median=200.0, min=100, max=300)


def test_merge_records_the_sweeps_cost(tmp_path):
    """Three sessions, two of them side by side, then a pause: the wall time counts the time
    any session ran, the summed wall time each session's, the elapsed time the pause too."""
    from lstm_from_scratch.experiments.provenance import write_results

    settings = {"seeds": [0]}
    sessions = [("2026-01-01T10:00:00+00:00", 600.0, 60.0, "a"),
                ("2026-01-01T10:05:00+00:00", 600.0, 50.0, "b"),     # overlaps the first
                ("2026-01-01T12:00:00+00:00", 300.0, 30.0, "c")]     # after a pause
    paths = []
    for date, wall, cpu, key in sessions:
        path = tmp_path / f"{key}.json"
        write_results(path, {"provenance": {}, "settings": settings, "runs": {key: {}},
                             "sessions": [dict(date=date, wall_time_s=wall, cpu_time_s=cpu)]})
        paths.append(path)
    gates.merge(paths, tmp_path / "all.json")
    sweep = read_results(tmp_path / "all.json")["sweep"]
    assert sweep["configurations"] == 3 and sweep["sessions"] == 3
    assert sweep["cpu_time_s"] == 140.0 and sweep["process_wall_time_s"] == 1500.0
    assert sweep["wall_time_s"] == 900.0 + 300.0              # 10:00-10:15, 12:00-12:05
    assert sweep["elapsed_s"] == 2 * 3600 + 300.0


def test_compare_flags_differences():
    rec = dict(seeds=[0, 1], eval_steps=[50, 100, 150], val_loss=[[0.2, 0.1, 0.01],
                                                                   [0.2, 0.2, 0.2]],
               solved_step=[150, None])
    live = dict(seeds=[1, 0], eval_steps=[50, 100, 150], val_loss=[[0.2, 0.2, 0.2],
                                                                    [0.2, 0.104, 0.0102]],
                solved_step=[None, 150])
    assert [c["ok"] for c in gates.compare(rec, live)] == [True, True]
    live["val_loss"][1][1] = 0.12                               # 17% off at a checkpoint
    assert [c["ok"] for c in gates.compare(rec, live)] == [True, False]
    live["val_loss"][1][1] = 0.1
    live["solved_step"][1] = None                               # the record solved it at 150
    assert [c["ok"] for c in gates.compare(rec, live)] == [True, False]
    with pytest.raises(ValueError, match="other steps"):
        gates.compare(rec, dict(live, eval_steps=[10, 20, 30]))


def test_every_model_builds_with_its_parameter_count():
    counts = {}
    for name, spec in gates.MODELS.items():
        m = Stacked(spec, 2, 8, 1, [0])
        counts[name] = m.num_parameters_per_model()
    head = 9
    assert counts["RNN"] == counts["IRNN"] == 8 * (2 + 8 + 2) + head
    assert counts["GRU"] == 3 * 8 * 12 + head
    assert counts["LSTM"] == counts["tanh gates"] == counts["multiplicative"] \
        == counts["sigmoid candidate"] == counts["all sigmoid"] == 4 * 8 * 12 + head
    assert counts["coupled (CIFG)"] == counts["no forget gate"] == counts["no output gate"] \
        == counts["no input gate"] == counts["coupled, bias 1"] == 3 * 8 * 12 + head
    assert counts["peepholes"] == 4 * 8 * 12 + 3 * 8 + head


@pytest.mark.slow
def test_record_reproduces():
    """Re-run every model on the shortest adding and copy tasks (two seeds, the first 300
    steps) and compare with the committed record."""
    if not RECORD.exists():
        pytest.skip("book/data/gates.json has not been produced yet")
    record = read_results(RECORD)
    settings = {**record["settings"], "steps": 300}
    failures = []
    for task in ("adding", "copy"):
        T = record["settings"]["lengths"][task][0]
        for model in gates.MODELS:
            rec = record["runs"][gates.key_of(model, task, T)]
            live = gates.run_config(model, task, T, [0, 1], settings)
            for c in gates.compare(rec, live):
                if not c["ok"]:
                    failures.append((model, task, T, c))
    assert not failures, failures


def test_stacked_weights_do_not_depend_on_the_default_device(cupy_standin, monkeypatch):
    """Every weight of a stack (the heads too) is drawn on the CPU from its seed, so a sweep
    with LFS_DEVICE=gpu starts from the record's weights."""
    from lstm_from_scratch import backend

    monkeypatch.setattr(backend, "_default_device", "cpu")
    on_cpu = {n: p.numpy() for n, p in Stacked(gates.MODELS["LSTM"], 2, 8, 1, [0, 3])
              .named_parameters()}
    monkeypatch.setattr(backend, "_default_device", "gpu")
    stack = Stacked(gates.MODELS["LSTM"], 2, 8, 1, [0, 3])
    assert stack.head_weight.device == "gpu"
    for name, p in stack.named_parameters():
        np.testing.assert_array_equal(p.numpy(), on_cpu[name], err_msg=name)
