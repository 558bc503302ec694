"""bench/bench_gpu.py's logic, on the CPU (--dry-run: tiny sizes, NumPy and torch's CPU path):
every engine reaches the same loss as cuDNN's stand-in, the table and the provenance are
written, and the CUDA-graph engine reports why it did not run instead of failing the run."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_gpu_dry_run(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "gpu.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_gpu.py"), "--dry-run",
                        "--workloads", "G2", "--precisions", "fp32", "--steps", "1",
                        "--warmup", "1", "--out", str(out)], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["provenance"]["dry_run"] is True and "date_utc" in doc["provenance"]
    recs = {rec["engine"]: rec for rec in doc["records"]}
    assert set(recs) == {"torch_cudnn", "torch_eager_cell", "lfs_fused", "lfs_primitive",
                         "lfs_fused_graph"}
    assert "need a GPU" in recs["lfs_fused_graph"]["error"]
    ref = recs["torch_cudnn"]["final_loss"]
    for name in ("lfs_fused", "lfs_primitive"):
        assert abs(recs[name]["final_loss"] - ref) < 1e-5, name
    assert "| G2 | FP32 | lfs_fused |" in doc["table"]
