"""Loading a local diffusers pipeline directory, with the weight reader SGLang would pick.

Reader choice (SGLang's ``select_weight_reader``): the Run:AI model streamer when
``SGLANG_USE_RUNAI_MODEL_STREAMER`` is true *and* ``runai_model_streamer`` is importable, else
safetensors' own loader; one INFO line names the reader that ran.

Why our own component loop instead of ``DiffusionPipeline.from_pretrained``: diffusers reads the
weights itself and has no streamer hook.  Here each component is built from its config
(``from_config``) and its ``*.safetensors`` files are read by the chosen reader, then
``load_state_dict(strict=True)``; configs-only components (schedulers) use ``from_pretrained``.
Nothing touches the network.

Default model: ``backend/models/shapes`` (the embedded trained model).  Until it ships, an untrained
pipeline with the same architecture and seeded weights is materialised once under
``<SGLANG_DIFFUSION_CACHE_ROOT>/materialized_models/`` and loaded from there the same way.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from backend.exit_codes import BackendError, ExitCode
from backend.logging_setup import get_logger

log = get_logger("loader")
STAGED_METHODS = ("validate_prompt", "encode_prompt", "prepare_timesteps", "prepare_latents", "denoise_step", "decode")


def runai_available() -> bool:
    try:
        importlib.import_module("runai_model_streamer")
    except ImportError:
        return False
    return True


def select_reader(use_streamer: bool) -> tuple[str, str]:
    """``(reader, why)``: ``runai_streamer`` or ``safetensors``."""
    if use_streamer and runai_available():
        return "runai_streamer", "SGLANG_USE_RUNAI_MODEL_STREAMER=true and runai_model_streamer is installed"
    if use_streamer:
        return "safetensors", "runai_model_streamer is not installed"
    return "safetensors", "SGLANG_USE_RUNAI_MODEL_STREAMER=false"


def _read_runai(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    from runai_model_streamer import SafetensorsStreamer

    with SafetensorsStreamer() as streamer:
        streamer.stream_file(str(path))
        for name, tensor in streamer.get_tensors():
            yield name, tensor.clone()


def _read_safetensors(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as fh:
        for name in fh.keys():  # noqa: SIM118 - safe_open is not a Mapping
            yield name, fh.get_tensor(name)


def read_weights(folder: Path, reader: str) -> dict[str, torch.Tensor]:
    files = sorted(folder.glob("*.safetensors"))
    read = _read_runai if reader == "runai_streamer" else _read_safetensors
    state: dict[str, torch.Tensor] = {}
    for file in files:
        state.update(read(file))
    return state


def _resolve_class(library: str, class_name: str) -> Any:
    """The class ``model_index.json`` names (Any: its loader methods are known only at run time)."""
    module = importlib.import_module(library)
    return getattr(module, class_name)


def _load_component(folder: Path, cls: Any, reader: str) -> Any:
    if any(folder.glob("*.safetensors")) and hasattr(cls, "from_config") and issubclass(cls, torch.nn.Module):
        model = cls.from_config(cls.load_config(str(folder)))
        model.load_state_dict(read_weights(folder, reader), strict=True)
        return model.eval()
    if any(folder.glob("*.bin")) or any(folder.glob("*.pt")):
        raise BackendError(ExitCode.MODEL_ERROR, f"{folder}: only safetensors weights are supported (no pickles)")
    return cls.from_pretrained(str(folder))


def default_model_dir() -> Path:
    from backend.models import shapes_pipeline

    return Path(shapes_pipeline.MODEL_DIR)


def materialize_untrained(cache_root: str) -> Path:
    """Save the seeded untrained shapes pipeline once under the cache root; returns its directory."""
    from backend.models.shapes_pipeline import build_untrained_pipeline

    target = Path(cache_root) / "materialized_models" / "shapes-untrained-seed0"
    if not (target / "model_index.json").exists():
        tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
        build_untrained_pipeline(seed=0).save_pretrained(str(tmp))
        try:
            os.rename(tmp, target)  # atomic; a concurrent worker may have won the race
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model_path(model_path: str | None, cache_root: str) -> Path:
    """The pipeline directory to load: the flag, else the embedded model, else the seeded stand-in."""
    if model_path:
        path = Path(model_path).expanduser()
        if not path.is_dir():
            raise BackendError(ExitCode.MODEL_ERROR, f"--model-path {model_path}: directory does not exist")
        if not (path / "model_index.json").is_file():
            raise BackendError(ExitCode.MODEL_ERROR,
                               f"--model-path {model_path}: no model_index.json (not a diffusers pipeline directory)")
        return path
    embedded = default_model_dir()
    if (embedded / "model_index.json").is_file():
        return embedded
    log.warning("Embedded model weights not found at backend/models/%s; using an untrained pipeline with "
                "seeded weights (images will be noise)", embedded.name)
    return materialize_untrained(cache_root)


def load_pipeline(path: Path, reader: str, why: str, device: torch.device, dtype: torch.dtype) -> Any:
    """Load every component of the pipeline at ``path`` with ``reader`` and move it to ``device``."""
    start = time.perf_counter()
    log.info("Loading model from %s with the %s weight reader (%s)", path, reader, why)
    try:
        index = json.loads((path / "model_index.json").read_text(encoding="utf-8"))
        pipe_cls = _resolve_pipeline_class(index["_class_name"])
        components: dict[str, Any] = {}
        for name, spec in index.items():
            if name.startswith("_"):
                continue
            if isinstance(spec, list) and len(spec) == 2:
                library, class_name = spec
                components[name] = None if library is None else _load_component(
                    path / name, _resolve_class(library, class_name), reader)
            else:
                components[name] = spec  # plain config values such as boundary_ratio
        pipe = pipe_cls(**components)
    except BackendError:
        raise
    except (OSError, ValueError, KeyError, TypeError, ImportError, AttributeError, RuntimeError) as exc:
        raise BackendError(ExitCode.MODEL_ERROR, f"Failed to load model from {path}: {type(exc).__name__}: {exc}") from None
    missing = [m for m in STAGED_METHODS if not callable(getattr(pipe, m, None))]
    if missing:
        raise BackendError(ExitCode.MODEL_ERROR, f"{type(pipe).__name__} from {path} lacks the staged interface "
                           f"the backend runs ({', '.join(missing)}); use a ShapesPipeline-style pipeline")
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    for comp in pipe.components.values():
        if isinstance(comp, torch.nn.Module):
            # nn.Module.to, not ModelMixin.to: the latter warns about fp32-only modules these models lack
            torch.nn.Module.to(comp, device=device, dtype=dtype)
    log.info("Loaded %s in %.2f seconds (%s, %s)", type(pipe).__name__, time.perf_counter() - start, device,
             str(dtype).removeprefix("torch."))
    return pipe


def _resolve_pipeline_class(name: str) -> type:
    if name == "ShapesPipeline":
        from backend.models.shapes_pipeline import ShapesPipeline

        return ShapesPipeline
    import diffusers

    cls = getattr(diffusers, name, None)
    if cls is None:
        raise BackendError(ExitCode.MODEL_ERROR, f"unknown pipeline class {name!r} in model_index.json")
    return cls
