"""The provenance every recorded experiment carries."""
import json

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
