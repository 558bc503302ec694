#!/usr/bin/env bash
# Everything this project asks of a GPU, in one command, on a bare GPU machine (an H100/H200 with
# CuPy and PyTorch installed, no network), in under 8 minutes:
#
#   1. install what the tests need and the machine lacks, from the wheels in .whl/
#      (fetch them beforehand where PyPI is reachable: bash bench/gpu_wheels.sh);
#   2. pytest -m gpu                          (CuPy against NumPy, the fused CUDA kernels ...);
#   3. bench/bench_gpu.py                     (G1-G3 against cuDNN, FP32 and TF32 rows);
#   4. LFS_DEVICE=gpu pytest --nbval-lax book/  (every chapter on the GPU, asserts only);
#
# and writes ONE results file, $RESULTS (default: $OUT/gpu_check.json when $OUT is set, else
# bench/results/gpu_check.json), with the provenance (GPU model, driver, CUDA, CuPy, PyTorch,
# date, commit), every phase's exit status, time and last lines, and the benchmark's records.
#
#     bash bench/gpu_check.sh                 # on the GPU machine, from the repository root
#     bash bench/gpu_check.sh --dry-run       # on a CPU: the same phases, tiny and GPU-free
#
# Each phase has its own time limit (the sum is 7.5 min); a phase that fails or times out is
# recorded and the next one still runs. Exit status: 0 when every phase passed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1
PY=${PYTHON:-python3}
if [[ -n "${OUT:-}" ]]; then RESULTS=${RESULTS:-$OUT/gpu_check.json}; else
  RESULTS=${RESULTS:-bench/results/gpu_check.json}; fi
LOGS=$(mktemp -d)
mkdir -p "$(dirname "$RESULTS")"
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
T0=$SECONDS
declare -a PHASES=()

phase() {   # phase NAME LIMIT_S COMMAND...: run, record status, time and the log's tail
  local name=$1 limit=$2; shift 2
  local start=$SECONDS rc
  echo "=== $name (limit ${limit}s)"
  if declare -F "$1" > /dev/null; then       # a shell function: run it in a child bash
    timeout --kill-after=10 "$limit" bash -c "$(declare -f "$1"); PY=$PY; $*" \
      > "$LOGS/$name.log" 2>&1
  else
    timeout --kill-after=10 "$limit" "$@" > "$LOGS/$name.log" 2>&1
  fi
  rc=$?
  tail -n 15 "$LOGS/$name.log"
  echo "=== $name: exit $rc after $((SECONDS - start))s"
  PHASES+=("$name|$rc|$((SECONDS - start))")
}

# 1. wheels: install only those whose distribution the machine's Python lacks
install_wheels() {
  shopt -s nullglob
  local wheels=(.whl/*.whl)
  if (( ${#wheels[@]} == 0 )); then echo "no wheels in .whl/ (bench/gpu_wheels.sh)"; return 0; fi
  local missing
  missing=$("$PY" - "${wheels[@]}" <<'PYEOF'
import importlib.metadata as md, os, re, sys
for w in sys.argv[1:]:
    name = re.sub(r"[-_.]+", "-", os.path.basename(w).split("-")[0]).lower()
    try:
        md.version(name)
    except md.PackageNotFoundError:
        print(w)
PYEOF
)
  if [[ -z "$missing" ]]; then echo "every wheel's package is already installed"; return 0; fi
  echo "installing: $(echo "$missing" | xargs -n1 basename | tr '\n' ' ')"
  # shellcheck disable=SC2086
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/lfs-site \
    $missing
}
phase wheels 60 install_wheels
export PYTHONPATH=/tmp/lfs-site:$PWD${PYTHONPATH:+:$PYTHONPATH}

# 2. the GPU tests (the repository's pytest options without --nbval: that is phase 4)
if (( DRY )); then
  phase pytest_gpu 120 "$PY" -m pytest -q -m gpu -o addopts="" -p no:cacheprovider \
    tests/test_kernels.py
else
  phase pytest_gpu 150 "$PY" -m pytest -q -m gpu -o addopts="" -p no:cacheprovider tests/
fi

# 3. the benchmark (both precisions; its own JSON, merged below)
if (( DRY )); then
  phase bench_gpu 150 "$PY" bench/bench_gpu.py --dry-run --steps 2 --warmup 1 \
    --out "$LOGS/bench_gpu.json"
else
  phase bench_gpu 180 "$PY" bench/bench_gpu.py --steps 10 --warmup 3 --out "$LOGS/bench_gpu.json"
fi

# 4. the book on the GPU, asserts only (notebooks in parallel when pytest-xdist is there)
NB=(book/)
(( DRY )) && NB=(book/03_tensors_gradcheck.ipynb)
XDIST=()
"$PY" -c "import xdist" 2>/dev/null && (( ! DRY )) && XDIST=(-n 6)
if (( DRY )); then DEV=cpu; else DEV=gpu; fi
phase book 240 env LFS_DEVICE=$DEV "$PY" -m pytest -q -p no:cacheprovider --nbval-lax \
  "${XDIST[@]}" "${NB[@]}"

# the results file
"$PY" - "$RESULTS" "$LOGS" "$DRY" "$((SECONDS - T0))" "${PHASES[@]}" <<'PYEOF'
import json, os, subprocess, sys, time
results, logs, dry, total = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
sys.path.insert(0, "bench")
from bench_gpu import provenance
doc = {"what": "bench/gpu_check.sh" + (" --dry-run" if dry else ""),
       "provenance": provenance(dry), "total_s": total, "phases": []}
for item in sys.argv[5:]:
    name, rc, secs = item.split("|")
    with open(os.path.join(logs, name + ".log"), errors="replace") as f:
        tail = f.read().splitlines()[-25:]
    doc["phases"].append({"name": name, "exit": int(rc), "seconds": int(secs), "tail": tail})
bench = os.path.join(logs, "bench_gpu.json")
if os.path.exists(bench):
    with open(bench) as f:
        b = json.load(f)
    doc["bench"] = {"records": b["records"], "table": b["table"], "steps": b["steps"]}
with open(results, "w") as f:
    json.dump(doc, f, indent=1)
print(f"wrote {results}")
if "bench" in doc:
    print(doc["bench"]["table"])
PYEOF
echo "=== total $((SECONDS - T0))s"
for p in "${PHASES[@]}"; do [[ "${p#*|}" == 0\|* ]] || exit 1; done
exit 0
