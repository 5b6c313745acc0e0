"""Writing generated images: SGLang's default file names, PNG text chunks, the ``Output saved to`` line.

File name (SGLang's rule): ``<first 100 chars of prompt>_<YYYYmmdd-HHMMSS>_<8 hex of the params
hash>``, sanitised to ``[A-Za-z0-9._-]`` (spaces become ``_``), at most 150 characters, plus ``.png``.
``--output-file-name`` replaces it; in a batch, image ``i`` gets ``_<i>`` before the extension.

PNG text chunks: ``prompt``, ``negative_prompt``, ``seed``, ``steps``, ``height``, ``width``,
``guidance_scale``, ``model``, ``request_id``, ``pid``, ``device``, ``attention`` (JSON) and
``settings`` (JSON of every effective variable, secrets masked by the registry).

Each file is written atomically (temp file beside it, fsync, rename: :mod:`backend.atomic_files`),
private (0600; a new output directory is 0700): on a full disk the old file stays whole and no empty
file is left.  Saving runs after the stages (upstream saves outside its stage list).
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

from PIL.PngImagePlugin import PngInfo

from backend.atomic_files import atomic_open, make_private_dirs
from backend.exit_codes import BackendError, ExitCode
from backend.logging_setup import get_logger
from backend.pipeline.context import StageContext
from backend.records import output_saved_message

log = get_logger("outputs")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_NAME = 150


def sanitize(name: str) -> str:
    return _UNSAFE.sub("", name.replace(" ", "_"))[:MAX_NAME]


def default_stem(prompt: str, params_hash: str, when: datetime | None = None) -> str:
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    if not prompt:
        return sanitize(f"output_{stamp}")
    return sanitize(f"{prompt[:100]}_{stamp}_{params_hash}")


def output_name(prompt: str, params_hash: str, file_name: str | None, index: int, batch: int) -> str:
    """The file name of image ``index`` of a batch of ``batch``."""
    if file_name:
        stem, ext = os.path.splitext(os.path.basename(file_name))
        ext = ext or ".png"
    else:
        stem, ext = default_stem(prompt, params_hash), ".png"
    return f"{stem}_{index}{ext}" if batch > 1 else f"{stem}{ext}"


def png_metadata(ctx: StageContext, index: int) -> PngInfo:
    req = ctx.request
    info = PngInfo()
    fields = {
        "prompt": req.prompt, "negative_prompt": req.negative_prompt or "", "seed": req.image_seed(index),
        "steps": ctx.num_steps, "height": ctx.height, "width": ctx.width, "guidance_scale": ctx.guidance_scale,
        "request_id": req.request_id, "pid": os.getpid(), "device": str(ctx.device),
        **ctx.extra_metadata,
    }
    for key, value in fields.items():
        info.add_text(key, str(value))
    masked = ctx.settings.masked() if hasattr(ctx.settings, "masked") else {}
    info.add_text("settings", json.dumps(masked, sort_keys=True))
    return info


def save_images(ctx: StageContext) -> list[str]:
    """Write every image of the request; returns their absolute paths."""
    req = ctx.request
    directory = Path(req.output_path or ".").expanduser()
    try:
        make_private_dirs(directory)
    except OSError as exc:
        raise BackendError(ExitCode.OUTPUT_ERROR, f"Cannot create output directory {directory}: {exc}") from None
    paths = []
    batch = len(ctx.images)
    for i, image in enumerate(ctx.images):
        global_index = req.index_offset + i
        total = req.total_batch or batch
        name = output_name(req.prompt, req.params_hash(i), req.output_file_name, global_index, total)
        path = (directory / name).resolve()
        try:
            with atomic_open(path) as fh:
                image.save(fh, format="PNG", pnginfo=png_metadata(ctx, i))
        except OSError as exc:
            raise BackendError(ExitCode.OUTPUT_ERROR, f"Cannot write {path}: {exc}") from None
        log.info(output_saved_message(path))
        paths.append(str(path))
    return paths
