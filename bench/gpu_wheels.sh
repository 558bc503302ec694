#!/usr/bin/env bash
# Fetch, on a machine that reaches PyPI, the wheels that bench/gpu_check.sh installs on a bare GPU
# machine (which reaches nothing): nbval and the Jupyter kernel it runs the notebooks in, for
# CPython 3.12 on x86-64 Linux. They go to .whl/ (git-ignored); carry that folder with the working
# tree. gpu_check.sh installs only those the GPU machine's Python does not already have.
#
#     bash bench/gpu_wheels.sh            # -> .whl/*.whl (about 15 MB)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEST=${1:-.whl}
PYVER=${PYVER:-3.12}
mkdir -p "$DEST"
# nbval and its imports (nbformat, jupyter_client) and the ipykernel it starts, each with the
# packages it needs that a CUDA/PyTorch image may lack. --no-deps: pip downloads exactly these.
PKGS=(
  "nbval>=0.11,<0.12" nbformat fastjsonschema jsonschema jsonschema-specifications referencing
  rpds-py jupyter_core jupyter_client pyzmq tornado traitlets platformdirs
  ipykernel ipython ipython-pygments-lexers comm debugpy matplotlib-inline nest-asyncio
  decorator jedi parso pexpect ptyprocess prompt_toolkit wcwidth stack_data executing
  asttokens pure_eval
)
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PYVER" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  --platform any -d "$DEST" "${PKGS[@]}" 2>&1 | grep -v "is ignored: it is neither" || true
ls "$DEST"/*.whl | wc -l
du -sh "$DEST"
