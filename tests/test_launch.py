"""Launch plans: our backend by default, any command, SGLang translation, secrets never shown."""

from __future__ import annotations

import sys

from tui.launch import RunRequest, build_launch, default_command, dump_roots, followed_files, sglang_mode

BASE = {"PATH": "/usr/bin", "HOME": "/home/op"}


def test_default_command_is_our_backend() -> None:
    req = RunRequest(prompt="a cat", steps=4, height=32, width=48, seed=7, model_path="tiny")
    assert default_command(req) == [sys.executable, "-m", "backend", "generate", "--prompt", "a cat",
                                    "--num-inference-steps", "4", "--height", "32", "--width", "48",
                                    "--seed", "7", "--model-path", "tiny"]
    plan = build_launch(req, {**BASE, "SGLANG_CACHE_DIT_ENABLED": "true"}, base_environ=BASE)
    assert plan.sglang_mode is None and plan.translations == ()
    assert plan.display.startswith("SGLANG_CACHE_DIT_ENABLED=true ") and "'a cat'" in plan.display


def test_sglang_detection() -> None:
    assert sglang_mode(["sglang", "generate", "--model-path", "m"]) == "generate"
    assert sglang_mode(["/opt/bin/sglang", "serve"]) == "serve"
    assert sglang_mode(["python3", "-m", "sglang.cli", "generate"]) == "generate"
    assert sglang_mode([sys.executable, "-m", "backend", "generate"]) is None
    assert sglang_mode(["sglang", "version"]) is None


def test_translation_of_documented_but_unread_variables() -> None:
    env = {**BASE, "SGLANG_DIFFUSION_LOGGING_LEVEL": "DEBUG", "SGLANG_DIFFUSION_TORCH_PROFILER_DIR": "/traces",
           "SGLANG_DIFFUSION_ATTENTION_BACKEND": "sage_attn", "SGLANG_DIFFUSION_ATTENTION_CONFIG": "/cfg/a.yaml"}
    req = RunRequest(command=["sglang", "generate", "--model-path", "m", "--log-level", "info"])
    plan = build_launch(req, env, base_environ=BASE)
    assert plan.argv == ("sglang", "generate", "--model-path", "m", "--log-level", "info", "--profile",
                         "--attention-backend", "sage_attn", "--attention-backend-config", "/cfg/a.yaml")
    assert plan.env["SGLANG_TORCH_PROFILER_DIR"] == "/traces"
    assert any("already given" in n for n in plan.translations)  # --log-level on the line wins
    assert "SGLANG_TORCH_PROFILER_DIR=/traces" in plan.display
    off = build_launch(RunRequest(command=["sglang", "generate"], translate_sglang=False), env, base_environ=BASE)
    assert off.argv == ("sglang", "generate") and "SGLANG_TORCH_PROFILER_DIR" not in off.env


def test_secrets_never_shown() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG"
    env = {**BASE, "SGLANG_S3_SECRET_ACCESS_KEY": secret, "SGLANG_S3_BUCKET_NAME": "bucket"}
    plan = build_launch(RunRequest(command=["sh", "-c", f"echo {secret}"]), env, base_environ=BASE)
    assert secret not in plan.display and "SGLANG_S3_SECRET_ACCESS_KEY=" in plan.display
    assert plan.env["SGLANG_S3_SECRET_ACCESS_KEY"] == secret  # the child still gets it


def test_followed_files_and_dump_roots() -> None:
    env = {"SGLANG_KERNEL_API_LOGDEST": "/logs/k_%i.log", "SGLANG_PERF_LOG_DIR": "/perf",
           "SGLANG_KERNEL_API_DUMP_DIR": "/d/dump_%i"}
    assert followed_files(env) == [("/logs/k_%i.log", "kernel_api"), ("/perf/performance.log", "perf")]
    assert followed_files({"SGLANG_KERNEL_API_LOGDEST": "stderr"}, perf_fallback="") == []
    assert dump_roots(env, [5, 6]) == ["/d/dump_5", "/d/dump_6"]
    assert dump_roots({}, cwd="/run") == ["/run/sglang_kernel_api_dumps"]
