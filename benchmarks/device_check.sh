#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU and a python3 that has a CUDA build of torch (and
# numpy, scipy, scikit-learn, pytest, hypothesis, psutil; no Streamlit or Plotly needed):
#     bash benchmarks/device_check.sh [SECONDS]
# 1. tests/test_cuda.py (the default recipe meets the bar on cuda within 600 steps,
#    GPU and CPU agree on the same weights, a GPU checkpoint loads on the CPU, a dashboard training
#    job trains on cuda after the server has used CUDA), with the job and quality tests beside it;
# 2. the CLI's default `train` on cuda, timed, then `evaluate`;
# 3. bench_training.py and bench_ui_paths.py with --device cuda;
# 4. where Streamlit and Plotly import (carry them as wheels on PYTHONPATH), the AppTest suite and
#    the figure, pipeline and CLI tests: the Train page's default device, auto, is cuda there.
# Logs go to $OUT (the device tool's folder) or /tmp/device_check. It reports; it exits non-zero
# only if a test or a command failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/device_check}"
SECONDS_PER_RECIPE="${1:-20}"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
failed=0
step() { echo; echo "=== $*"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
nproc
"$PY" -c "import torch, sys; print(sys.version.split()[0], 'torch', torch.__version__, torch.cuda.get_device_name(0))" || exit 1

step "tests"
"$PY" -m pytest -p no:cacheprovider -q -rs tests/test_cuda.py tests/test_jobs.py tests/test_quality.py 2>&1 | tee "$OUT/pytest.log" | tail -25
[ "${PIPESTATUS[0]}" = 0 ] || failed=1

step "CLI: default train on cuda, then evaluate"
start=$EPOCHREALTIME
"$PY" -m diffusion train --device cuda --out "$OUT/model" --quiet || failed=1
"$PY" -c "print(f'train wall seconds: {$EPOCHREALTIME - $start:.1f}')"
"$PY" -m diffusion evaluate --checkpoint "$OUT/model/model.pt" --device cuda --n 20000 | tee "$OUT/evaluate.json" || failed=1

step "bench_training --device cuda --seconds $SECONDS_PER_RECIPE"
"$PY" benchmarks/bench_training.py --device cuda --seconds "$SECONDS_PER_RECIPE" --json "$OUT/bench_training.json" 2>"$OUT/bench_training.log" || failed=1

step "bench_ui_paths --device cuda"
"$PY" benchmarks/bench_ui_paths.py --device cuda || failed=1

if "$PY" -c "import streamlit, plotly" 2>/dev/null; then
  step "the dashboard (AppTest) and the figure, pipeline and CLI tests, with cuda present"
  "$PY" -m pytest -p no:cacheprovider -q -rs tests/app tests/test_figures.py tests/test_pipeline.py tests/test_cli.py 2>&1 | tee "$OUT/app.log" | tail -15
  [ "${PIPESTATUS[0]}" = 0 ] || failed=1
else
  step "the dashboard tests: skipped (streamlit or plotly not importable)"
fi

echo; echo "device_check: $([ $failed = 0 ] && echo OK || echo FAILED)"
exit $failed
