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
echo "== serve --num-workers 2, dev mode: /dev/memory and an attention-config reload, asked of both workers"
printf '{"sdpa_kernels": ["math"]}\n' > "$G/attention.json"
SGLANG_DIFFUSION_SERVER_DEV_MODE=true SGLANG_DIFFUSION_ATTENTION_CONFIG=$G/attention.json \
  python3 -m backend serve --port 0 --num-workers 2 --no-stdin --output-path "$G/dev" > "$G/dev.out" 2>&1 &
SERVE=$!
python3 - "$G" <<'PY'
import json, re, sys, time, urllib.request
from pathlib import Path
g = Path(sys.argv[1])
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    text = (g / "dev.out").read_text(errors="replace")
    port = re.search(r"Serving on http://127\.0\.0\.1:(\d+)", text)
    if port and "Worker 1 (pid" in text and re.search(r"Worker 1 \(pid \d+\) ready", text):
        break
    time.sleep(0.5)
url = f"http://127.0.0.1:{port.group(1)}"
def call(method, path, body=None):
    req = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
status, a = call("POST", "/v1/images/generations", {"prompt": "a red circle", "steps": 28, "size": "128x128"})
print(f"generate: {status}, pid {a.get('pid')}, total {a['timings']['total_duration_ms']:.0f} ms")
status, m = call("GET", "/dev/memory")
print("GET /dev/memory:", status)
for w in m.get("workers", []):
    print(f"  worker {w['rank']} (pid {w['pid']}) {w['device']}: allocated {w.get('allocated_mb')} MiB, "
          f"peak {w.get('peak_allocated_mb')} MiB, free {w.get('free_mb')} of {w.get('total_mb')} MiB")
(g / "attention.json").write_text(json.dumps({"sdpa_kernels": ["math"], "scale": 0.125}))
status, r = call("POST", "/dev/reload-attention-config", {})
print("POST /dev/reload-attention-config:", status)
for w in r.get("workers", []):
    print(f"  worker {w['rank']} (pid {w['pid']}): {w['status']} changes {w.get('changes')}")
status, last = call("GET", "/dev/last-request")
print("GET /dev/last-request:", status, [(w["rank"], w["status"]) for w in last.get("workers", [])])
PY
kill -TERM "$SERVE"; wait "$SERVE"; echo "serve rc=$?"
grep -E "Applied attention config" "$G/dev.out" | sed -E "s/^\[[^]]*\] //" | cut -c1-200
