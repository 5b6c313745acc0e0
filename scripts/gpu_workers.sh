#!/usr/bin/env bash
# Issue 14 on the GPUs a host has: `--num-workers 2` places worker r on cuda:r when two GPUs are
# visible (both on cuda:0 with one) and says so in one line each; a real device-side assert scoped
# to worker 1 (`,rank=1`) kills worker 1 only; the console's crash report, from the files alone,
# names worker 1, its device and the call in flight, and reports worker 0's image as kept; no
# process survives.  Needs a CUDA torch and the project's backend dependencies.
# Usage: scripts/gpu_workers.sh [OUTDIR]   (on the lent machine, install the carried wheels with
# `python3 -m pip install --no-deps ...`: its `pip` on PATH belongs to another interpreter)
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
G=${1:-${OUT:-/tmp}/gpu-workers}
mkdir -p "$G"
export SGLANG_DIFFUSION_CACHE_ROOT=$G/c SGLANG_PERF_LOG_DIR=$G/l SGLANG_DIFFUSION_STAGE_LOGGING=1
nvidia-smi -L
python3 -c 'import torch; print("torch", torch.__version__, "visible GPUs:", torch.cuda.device_count())'
echo "== clean run, two workers, through the console (sgl-console run: its summary times each worker)"
python3 -m tui run -- python3 -m backend generate --prompt "a red circle" --num-inference-steps 28 \
  --batch-size 2 --num-workers 2 --output-path "$G/clean" > "$G/clean.out" 2> "$G/clean.summary"
echo "rc=$?"
grep -E "Worker|Target device" "$G/clean.out" | sed -E "s/^\[[^]]*\] //" | cut -c1-200
grep -E "worker [0-9]|child" "$G/clean.summary" | cut -c1-220
echo "== serve --num-workers 2: two requests sent together, one on each worker"
printf '%s\n' '{"prompt": "a red circle", "steps": 28, "id": "a"}' '{"prompt": "a blue square", "steps": 28, "id": "b"}' |
  python3 -m backend serve --port 0 --num-workers 2 --output-path "$G/serve" > "$G/serve.out" 2>&1
echo "rc=$?"
grep -E "Worker [0-9] of|ready|Shutting" "$G/serve.out" | sed -E "s/^\[[^]]*\] //" | cut -c1-200
python3 -c 'import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        a = json.loads(line)
        print("answer %s: pid %s, error %s, total %.0f ms" % (a["id"], a["pid"], a["error"], a["timings"]["total_duration_ms"]))' "$G/serve.out"
echo "== device-side assert on worker 1 only (kernel API level 10, dumps)"
SGLANG_KERNEL_API_LOGLEVEL=10 SGLANG_KERNEL_API_LOGDEST=$G/k_%i.log SGLANG_KERNEL_API_DUMP_DIR=$G/dumps \
  python3 -m backend generate --prompt "a red circle" --num-inference-steps 8 --batch-size 2 --num-workers 2 \
  --output-path "$G/drill" --inject-fault 'device-assert@backend.attention*:3,rank=1' > "$G/drill.out" 2>&1
rc=$?
echo "drill rc=$rc"
grep -E "Worker|device-side assert|Fault injection" "$G/drill.out" | cut -c1-220 | sort | uniq | head -12
echo "images kept: $(ls "$G/drill" 2>/dev/null | wc -l)"
echo "left running: $(pgrep -fc 'backend generate' || true)"
python3 -m tui crash-report --log "$G/drill.out" $(for f in "$G"/k_*.log; do echo --log "$f"; done) \
  --dump-dir "$G/dumps" --exit-code "$rc" | head -32
