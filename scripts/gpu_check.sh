#!/usr/bin/env bash
# Exercise the backend's CUDA paths on a GPU host (device choice, SDPA kernels for fa /
# torch_sdpa, profiler traces, kernel API logs on cuda, workers, a real device-side
# assert drill and the console's crash report of it).  Needs a CUDA torch plus the
# project's Python dependencies; prints a short summary.  Usage: scripts/gpu_check.sh [OUTDIR]
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
G=${1:-${OUT:-/tmp}/gpu}
mkdir -p "$G"
export SGLANG_DIFFUSION_CACHE_ROOT=$G/c SGLANG_PERF_LOG_DIR=$G/l SGLANG_DIFFUSION_STAGE_LOGGING=1
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
g() { echo "== $*"; python3 -m backend generate --prompt "a red circle" --num-inference-steps 4 --output-path "$G/o" "$@" >>"$G/run.log" 2>&1; echo "rc=$?"; }
g
SGLANG_DIFFUSION_TARGET_DEVICE=cuda SGLANG_DIFFUSION_TORCH_PROFILER_DIR=$G/p g --attention-backend fa
g --attention-backend fa --attention-backend-config '{"sdpa_kernels":["flash","cudnn"]}'
g --attention-backend-config '{"sdpa_kernels":["efficient","cudnn"]}'
g --attention-backend-config sdpa_kernels=math
g --attention-backend sage_attn
SGLANG_KERNEL_API_LOGLEVEL=3 SGLANG_KERNEL_API_LOGDEST=$G/k_%i.log g --attention-backend fa --num-inference-steps 1
SGLANG_DIFFUSION_TARGET_DEVICE=mps g
SGLANG_USE_ROCM_VAE=1 SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND=flashinfer_trtllm g
for m in fork spawn; do SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD=$m g --batch-size 2 --num-workers 2; done
SGLANG_CACHE_DIT_ENABLED=1 SGLANG_CACHE_DIT_SCM_PRESET=fast g --num-inference-steps 8
grep -hE "Target dev|Attention backend|SDPA kernel|falling|Saved prof|no effect|Worker .* fin|no usable|cache-dit:|Error|Traceback" "$G/run.log" | cut -c18-230 | sort | uniq -c
python3 - "$G" <<'PY'
import glob, gzip, json, sys
g = sys.argv[1]
for f in glob.glob(f"{g}/p/*.gz"):
    e = json.load(gzip.open(f))["traceEvents"]
    print(f[-40:], sum(x.get("cat") == "kernel" for x in e), "GPU kernels")
for line in open(f"{g}/l/performance.log"):
    d = json.loads(line)
    print("perf", round(d["total_duration_ms"], 1), [round(s, 2) for s in d["steps"]], d.get("cache_stats", {}).get("hit_ratio"))
PY
grep -hA12 "Call: backend.attention" "$G"/k_*.log | grep -m4 -E "device|dtype"
echo "== device-assert drill at kernel API level 10, then the console's crash report"
( cd "$G" && SGLANG_KERNEL_API_LOGLEVEL=10 SGLANG_KERNEL_API_LOGDEST=$G/drill_%i.log SGLANG_KERNEL_API_DUMP_DIR=$G/dumps \
  python3 -m backend generate --prompt "a red circle" --num-inference-steps 2 --output-path "$G/o" \
  --inject-fault 'device-assert@backend.attention*' > "$G/drill.out" 2>&1; echo "drill rc=$?" )
grep -m3 -E "device-side assert|CUDA error" "$G/drill.out"
python3 -m tui crash-report --log "$G"/drill_*.log --log "$G/drill.out" --dump-dir "$G/dumps" | head -30
SGL_BACKEND_TEST_DEVICE=cuda timeout 400 python3 -m pytest -q -x -p no:cacheprovider tests/test_backend_generate.py \
  tests/test_backend_serve.py tests/test_backend_workers.py tests/test_attention.py tests/test_faults.py tests/test_kernel_api.py 2>&1 | tail -4
