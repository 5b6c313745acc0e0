"""The ``sgl-backend`` command line: ``generate`` (one batch, then exit) and ``serve`` (resident).

Flag names follow ``sglang generate`` where the two overlap (reference notes, section 7), so muscle
memory carries over.  Only argparse and the mapping of its namespace to a request live here: no torch,
so ``--help`` and usage errors are instant.
"""

from __future__ import annotations

import argparse
import math
from argparse import Namespace
from collections.abc import Sequence

from backend.envs import ATTENTION_BACKEND, LOG_LEVELS, EnvError
from backend.pipeline import limits
from backend.pipeline.request import GenerationRequest

DEFAULT_SEED = 42
DEFAULT_OUTPUT_PATH = "outputs/"
DEFAULT_PORT = 30000
"""SGLang's own default port."""


def _attention_backend(text: str) -> str:
    try:
        return str(ATTENTION_BACKEND.parse(text))
    except EnvError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: {exc.allowed}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


MAX_SEED = 2**63 - 1
"""Seeds are 0..2^63-1 (torch generators take 64 bits; image i of a batch uses seed + i)."""


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not in 0..{MAX_SEED}")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _bytes(text: str) -> int:
    try:
        return limits.parse_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not in 0..65535 (0 picks a free port)")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-path", default=None,
                   help="local diffusers pipeline directory (no network); default: the embedded shapes model")
    p.add_argument("--attention-backend", type=_attention_backend, default=None,
                   help="overrides SGLANG_DIFFUSION_ATTENTION_BACKEND (fa, torch_sdpa, ...)")
    p.add_argument("--attention-backend-config", default=None,
                   help="a .json/.yaml file, a JSON object or k=v,k=v; overrides SGLANG_DIFFUSION_ATTENTION_CONFIG")
    p.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=None,
                   help="overrides SGLANG_DIFFUSION_LOGGING_LEVEL")
    p.add_argument("--output-path", default=DEFAULT_OUTPUT_PATH,
                   help="directory for the PNG files (default: outputs/)")
    p.add_argument("--inject-fault", action="append", default=None, metavar="SPEC",
                   help="deliberately fail: KIND[=CODE][@API_PATTERN][:CALL_N] (repeatable; see backend/kernel_api/faults.py)")
    bounds = p.add_argument_group("limits", "a request over one of these is refused before anything is allocated")
    bounds.add_argument("--max-steps", type=_positive, default=DEFAULT_MAX_STEPS,
                        help=f"most denoising steps per request (default {DEFAULT_MAX_STEPS})")
    bounds.add_argument("--max-batch-size", type=_positive, default=limits.DEFAULT_MAX_BATCH,
                        help=f"most images per request (default {limits.DEFAULT_MAX_BATCH})")
    bounds.add_argument("--max-pixels", type=_positive, default=limits.DEFAULT_MAX_PIXELS,
                        help=f"most pixels per image, height x width (default {limits.DEFAULT_MAX_PIXELS})")
    bounds.add_argument("--max-request-memory", type=_bytes, default=None, metavar="SIZE",
                        help="most memory one request may need by the backend's estimate, e.g. 2G "
                             f"(default: {int(limits.MEMORY_HEADROOM * 100)}%% of the free device/host memory)")


DEFAULT_MAX_STEPS = limits.DEFAULT_MAX_STEPS
"""Upper bound on a request's steps: a body asking for 10^8 steps must not hold the queue."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgl-backend", description="Bundled diffusion generation backend (SGLang-shaped logs and records).")
    sub = parser.add_subparsers(dest="command", metavar="{generate,serve}", required=True)

    gen = sub.add_parser("generate", help="generate one batch of images and exit")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--negative-prompt", default=None)
    gen.add_argument("--num-inference-steps", type=_positive, default=None, help="default: the model's")
    gen.add_argument("--height", type=_positive, default=None, help="default: the model's native size")
    gen.add_argument("--width", type=_positive, default=None, help="default: the model's native size")
    gen.add_argument("--seed", type=_seed, default=DEFAULT_SEED, help=f"0..{MAX_SEED}; image i of the batch uses seed + i")
    gen.add_argument("--batch-size", type=_positive, default=1)
    gen.add_argument("--guidance-scale", type=_finite, default=None, help="a finite number; default: the model's")
    gen.add_argument("--output-file-name", default=None, help="file name (image i of a batch gets _i)")
    gen.add_argument("--perf-dump-path", default=None,
                     help="write the timing report here (also turns on stage timing and performance.log)")
    gen.add_argument("--num-workers", type=_positive, default=1,
                     help="split the batch over N worker processes (SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD)")
    _common(gen)

    srv = sub.add_parser("serve", help="load the model once, answer requests on stdin (JSON lines) and HTTP")
    srv.add_argument("--port", type=_port, default=DEFAULT_PORT, help="HTTP port on 127.0.0.1 (0: pick one)")
    srv.add_argument("--no-stdin", dest="stdin", action="store_false",
                     help="do not read requests from stdin (then only SIGTERM/SIGINT stop the server)")
    srv.add_argument("--allow-origin", action="append", metavar="ORIGIN",
                     help="accept HTTP requests carrying this browser Origin (repeatable; default: none)")
    srv.add_argument("--num-workers", type=_positive, default=1,
                     help="N resident worker processes, one model each (cuda:r when several GPUs are visible); "
                          "up to N requests run at once")
    _common(srv)
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; argparse itself prints usage errors and exits with 2 (ExitCode.USAGE).

    ``generate``'s steps, batch and size are checked against the limits here, before torch loads.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "generate":
        found = limits.Limits.from_args(args).problems(args.num_inference_steps, args.batch_size, args.height,
                                                      args.width)
        if found:
            parser.error("; ".join(found))
    return args


def request_from_args(args: Namespace) -> GenerationRequest:
    """The request of a ``generate`` command line (the whole batch; workers narrow it)."""
    return GenerationRequest(
        prompt=args.prompt, negative_prompt=args.negative_prompt, num_inference_steps=args.num_inference_steps,
        height=args.height, width=args.width, seed=args.seed, batch_size=args.batch_size,
        guidance_scale=args.guidance_scale, output_path=args.output_path, output_file_name=args.output_file_name,
        perf_dump_path=args.perf_dump_path, total_batch=args.batch_size,
    )
