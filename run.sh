#!/usr/bin/env bash
# One entry point for the README's two commands:
#   ./run.sh console [ARGS...]   set up .venv if needed, then open the console (sgl-console ARGS)
#   ./run.sh test [PYTEST ARGS]  set up .venv if needed, then run the whole test suite
#   ./run.sh drills [--long] [PYTEST ARGS]  the reliability drills (tests/reliability), one figure line
#                                each; --long runs the long variants (./run.sh test runs the short ones)
# Also: ./run.sh setup (only the venv), ./run.sh bench [--quick] (the console through a real terminal,
# beside its anchors -> bench/RESULTS.md; see bench/run_all.py).
#
# torch: by default the CPU wheel torch==2.13.0 is installed (small; no multi-GB CUDA
# download).  On a GPU host set SGL_TORCH to the requirement you want (for example
# SGL_TORCH="torch==2.13.0" with pip's --index-url pointed at the PyTorch CUDA wheel
# index for your CUDA version through PIP_INDEX_URL), or SGL_TORCH=keep to leave the
# torch already in .venv alone.  See README.md, "GPU hosts".
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=.venv
TORCH_SPEC=${SGL_TORCH:-torch==2.13.0}

setup() {
    local stamp="$VENV/.sgl-setup-stamp"
    local want
    want="$(cat pyproject.toml | sha256sum | cut -c1-16) $TORCH_SPEC"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$VENV/bin/sgl-console" ]]; then
        return 0
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        echo "setup: creating $VENV" >&2
        "$PY" -m venv "$VENV"
    fi
    echo "setup: installing the project and its test tools into $VENV (first time: about 3 minutes)" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    # compat mode: a plain path entry instead of an import hook (faster start of the console)
    local editable=(--config-settings editable_mode=compat -e ".[test]")
    local log="$VENV/.sgl-setup.log"
    local torch=()
    [[ "$TORCH_SPEC" == "keep" ]] || torch=("$TORCH_SPEC")
    if ! "$VENV/bin/python" -m pip install -q "${torch[@]}" "${editable[@]}" >"$log" 2>&1; then
        cat "$log" >&2
        echo "setup: pip install failed (log above, also in $log)" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
}

# Byte-compile our own packages (pip does it for the others): the console must be interactive
# within 0.5 s, and where PYTHONDONTWRITEBYTECODE is set nothing would ever be cached.
compile() { "$VENV/bin/python" -m compileall -q backend tui >/dev/null || true; }

# The browser test drives Debian's Chromium through Playwright (Playwright's own browser download
# cannot work here): install it with apt when missing and we may; otherwise that one test skips.
browser() {
    [[ -x /usr/bin/chromium ]] && return 0
    command -v apt-get >/dev/null || return 0
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then command -v sudo >/dev/null || return 0; sudo="sudo -n"; fi
    echo "setup: installing Debian's chromium for the browser test" >&2
    { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium; } \
        >"$VENV/.sgl-chromium.log" 2>&1 || echo "setup: chromium not installed (see $VENV/.sgl-chromium.log)" >&2
}

cmd=${1:-console}
shift || true
case "$cmd" in
    setup) setup ;;
    console) setup; compile; exec "$VENV/bin/sgl-console" "$@" ;;
    test)
        setup; browser
        # Bytecode caches for our modules and pytest's rewritten tests: the suite starts about 150 Python
        # processes that import backend or tui, and three workers each rewrite every test module
        # (PYTHONDONTWRITEBYTECODE, where the shell sets it, would make each of them compile afresh).
        unset PYTHONDONTWRITEBYTECODE; compile
        exec "$VENV/bin/python" -m pytest -q "$@" ;;
    drills)
        setup
        args=()
        for a in "$@"; do
            if [[ "$a" == "--long" ]]; then export SGL_DRILLS_LONG=1; else args+=("$a"); fi
        done
        exec "$VENV/bin/python" -m pytest -q tests/reliability "${args[@]}" ;;
    bench) setup; exec "$VENV/bin/python" bench/run_all.py "$@" ;;
    *) echo "usage: ./run.sh {console|test|drills|setup|bench} [ARGS...]" >&2; exit 2 ;;
esac
