"""Kernel API crash-debug logging: SGLang's ``SGLANG_KERNEL_API_*`` for our backend's kernel boundaries.

Public API:
    ``debug_kernel_api(fn=None, *, name=None)``
        Decorator (bare or called). At level 0 it returns ``fn`` itself (zero overhead) unless an
        installed fault plan (:mod:`backend.kernel_api.faults`) targets the API; then a minimal wrapper that only
        fires the fault is returned. At level >= 1 each call writes a block in SGLang's exact shape
        (see :mod:`backend.records`): level 1 the call name, 3 arguments and return value, 5 tensor
        statistics (computed in float32), 10 input/output dumps.
    ``debug_torch_op(name)``
        The same decorator with an explicit name: ``name`` if dotted, else ``backend.custom_op.<name>``.
    ``api_name_of(fn) -> str``
        ``<module>.<qualname>`` with ``<locals>`` removed (``backend.attention.sdpa_attention``); a
        leading ``sglang.`` / ``sgl_kernel.`` is dropped as SGLang does; ``__main__`` uses the file stem.
    ``instrument_module(model, prefix) -> int`` / ``instrument_pipeline(pipe) -> int``
        Wrap, per instance, the ``forward`` of ``nn.Linear`` and norm modules (LayerNorm, GroupNorm,
        RMSNorm) as ``<prefix>.<module path>.<Class>.forward``, and (pipeline) the VAE's ``decode`` as
        ``backend.vae.<Class>.decode``. Only when level > 0 or a fault targets the name. Returns the
        number of wrapped callables.
    ``describe_value(value, level) -> ValueDesc``
        A torch value as the plain description :mod:`backend.records` renders.
    ``current_config() -> KernelApiConfig`` / ``reset(environ=None)``
        The configuration (read once, at first use, per process) and a re-read for tests.

Configuration (``SGLANG_KERNEL_API_LOGLEVEL``, ``_LOGDEST``, ``_DUMP_DIR``, ``_DUMP_INCLUDE``,
``_DUMP_EXCLUDE``) is parsed strictly by the variable registry and read at the first decoration, so
set it before the process starts, as with SGLang (which reads it at import). ``%i`` in LOGDEST and
DUMP_DIR becomes the process id; after ``fork`` the child re-resolves both (``os.register_at_fork``),
reopens its log file and restarts its per-API dump counters. Logger ``sglang.kernel_api``: format
``%(message)s``, no propagation, file destinations opened in append mode (parents created).

Level-10 dumps (include patterns first, then exclude; they filter dumps only): before the call
``inputs.pt`` (only if tensors) and ``metadata.json`` with ``execution_status: inputs_saved`` are
written, flushed and fsynced, so a hard crash leaves them; after it ``completed`` (plus ``outputs.pt``)
or ``exception``. Calls made while torch.compile traces are not logged.
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, overload

import torch

from backend.kernel_api import faults
from backend.records import (
    GRAPH_CAPTURE_NOTE,
    ArgDesc,
    DumpMetadata,
    TensorDesc,
    TensorStats,
    ValueDesc,
    dump_dir_name,
    dump_timestamp,
    kernel_call_begin_lines,
    kernel_call_end_lines,
    kernel_exception_line,
)

LOGGER_NAME = "sglang.kernel_api"
_logger = logging.getLogger(LOGGER_NAME)
_F = TypeVar("_F", bound=Callable[..., Any])
_MARK = "_debug_kernel_wrapped"


@dataclass(frozen=True)
class KernelApiConfig:
    level: int = 0
    logdest: str = "stdout"
    """As configured; ``%i`` still unexpanded (see :meth:`resolved_logdest`)."""
    dump_dir: str = "sglang_kernel_api_dumps"
    dump_include: tuple[str, ...] = ()
    dump_exclude: tuple[str, ...] = ()

    def resolved_logdest(self, pid: int | None = None) -> str:
        return self.logdest.replace("%i", str(os.getpid() if pid is None else pid))

    def resolved_dump_dir(self, pid: int | None = None) -> Path:
        return Path(self.dump_dir.replace("%i", str(os.getpid() if pid is None else pid)))

    def should_dump(self, api_name: str) -> bool:
        if self.dump_include and not any(fnmatch.fnmatchcase(api_name, p) for p in self.dump_include):
            return False
        return not any(fnmatch.fnmatchcase(api_name, p) for p in self.dump_exclude)


def read_config(environ: Mapping[str, str] | None = None) -> KernelApiConfig:
    """Read the five variables as sglang does (strict with ``SGL_CONSOLE_STRICT``; raises ``EnvError``).

    Only these five are parsed, so a bad unrelated variable cannot break kernel logging.
    """
    from backend import envs

    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var in (
        envs.KERNEL_API_LOGLEVEL,
        envs.KERNEL_API_LOGDEST,
        envs.KERNEL_API_DUMP_DIR,
        envs.KERNEL_API_DUMP_INCLUDE,
        envs.KERNEL_API_DUMP_EXCLUDE,
    ):
        raw = env.get(var.name)
        reading = envs.settings.read_value(var, raw, envs.strict_mode(env)) if raw else None  # upstream's rules
        values[var.attr.removeprefix("kernel_api_")] = reading.value if reading else var.default_value(env)
    return KernelApiConfig(
        level=int(values["loglevel"] or 0),
        logdest=str(values["logdest"] or "stdout"),
        dump_dir=str(values["dump_dir"] or "sglang_kernel_api_dumps"),
        dump_include=tuple(values["dump_include"] or ()),
        dump_exclude=tuple(values["dump_exclude"] or ()),
    )


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config: KernelApiConfig | None = None
        self.counters: dict[str, int] = {}


_state = _State()


def current_config() -> KernelApiConfig:
    """The process's configuration, read at the first call (and re-resolved after fork)."""
    cfg = _state.config
    if cfg is None:
        with _state.lock:
            if _state.config is None:
                _state.config = read_config()
                _setup_logger(_state.config)
            cfg = _state.config
    return cfg


def reset(environ: Mapping[str, str] | None = None) -> KernelApiConfig:
    """Re-read the configuration from ``environ`` and rebuild the logger (tests, long-lived hosts).

    Functions decorated before keep the wrapper (or lack of one) they got.
    """
    with _state.lock:
        _state.config = read_config(environ)
        _state.counters.clear()
        _setup_logger(_state.config)
        return _state.config


def _setup_logger(cfg: KernelApiConfig) -> None:
    for old in list(_logger.handlers):
        _logger.removeHandler(old)
        try:
            old.close()
        except Exception:  # noqa: BLE001 - a broken inherited handler must not stop setup
            pass
    _logger.propagate = False
    if cfg.level == 0:
        _logger.addHandler(logging.NullHandler())
        _logger.setLevel(logging.CRITICAL + 1)
        return
    _logger.setLevel(logging.DEBUG)
    dest = cfg.resolved_logdest()
    handler: logging.Handler
    if dest == "stdout":
        handler = logging.StreamHandler(sys.stdout)
    elif dest == "stderr":
        handler = logging.StreamHandler(sys.stderr)
    else:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(dest, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    _logger.addHandler(handler)


def _after_fork_in_child() -> None:
    _state.lock = threading.Lock()
    _state.counters = {}
    cfg = _state.config
    if cfg is not None and cfg.level > 0 and "%i" in cfg.logdest:
        _setup_logger(cfg)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --------------------------------------------------------------------------------------------------
# Describing values
# --------------------------------------------------------------------------------------------------


def _graph_capture_active() -> bool:
    try:
        if torch.cuda.is_available() and torch.cuda.is_current_stream_capturing():
            return True
        xpu = getattr(torch, "xpu", None)
        return bool(xpu is not None and xpu.is_available() and xpu.is_current_stream_capturing())
    except Exception:  # noqa: BLE001
        return False


def _is_compiling() -> bool:
    try:
        return bool(torch.compiler.is_compiling())
    except Exception:  # noqa: BLE001
        return False


def tensor_stats(tensor: torch.Tensor) -> TensorStats:
    """min/max/mean in float32 (complex: absolute value), NaN/Inf counts, or SGLang's special forms."""
    if tensor.numel() == 0:
        return TensorStats(note="empty tensor")
    if tensor.device.type in ("cuda", "xpu") and _graph_capture_active():
        return TensorStats(note=f"skipped: {GRAPH_CAPTURE_NOTE}")
    try:
        t = tensor.detach()
        source = t.abs().float() if t.is_complex() else t.float()
        if t.is_complex() or t.is_floating_point():
            nan_count, inf_count = int(torch.isnan(t).sum().item()), int(torch.isinf(t).sum().item())
        else:
            nan_count = inf_count = 0
        return TensorStats(
            min=float(source.min().item()),
            max=float(source.max().item()),
            mean=float(source.mean().item()),
            nan_count=nan_count,
            inf_count=inf_count,
        )
    except Exception as exc:  # noqa: BLE001 - statistics are best effort, as in SGLang
        return TensorStats(note=f"unavailable: {type(exc).__name__}")


def describe_value(value: Any, level: int = 3, depth: int = 0) -> ValueDesc:
    """Describe ``value`` for the log: tensors by metadata (plus stats at level >= 5), containers up
    to 4 (lists/tuples) or 8 (dicts) items, nesting cut at depth 2, other objects by shape/dtype/device
    or a 200-character ``repr``."""
    if depth >= 2:
        return ArgDesc("elided", type(value).__name__)
    if isinstance(value, torch.Tensor):
        return TensorDesc(
            shape=tuple(value.shape),
            dtype=str(value.dtype),
            device=str(value.device),
            requires_grad=bool(value.requires_grad),
            is_contiguous=bool(value.is_contiguous()),
            stats=tensor_stats(value) if level >= 5 else None,
        )
    if isinstance(value, (str, int, float, bool, type(None))):
        return ArgDesc("repr", repr(value))
    if isinstance(value, (list, tuple)):
        items = tuple((str(i), describe_value(v, level, depth + 1)) for i, v in enumerate(value[:4]))
        return ArgDesc(
            "list" if isinstance(value, list) else "tuple", items=items, more=max(len(value) - 4, 0)
        )
    if isinstance(value, dict):
        pairs = list(value.items())
        items = tuple((repr(k), describe_value(v, level, depth + 1)) for k, v in pairs[:8])
        return ArgDesc("dict", items=items, more=max(len(pairs) - 8, 0))
    attrs = []
    for attr in ("shape", "dtype", "device"):
        if hasattr(value, attr):
            try:
                attrs.append((attr, str(getattr(value, attr))))
            except Exception:  # noqa: BLE001
                pass
    if not attrs:
        attrs.append(("repr", repr(value)[:200]))
    return ArgDesc("object", type(value).__name__, attrs=tuple(attrs))


# --------------------------------------------------------------------------------------------------
# Dumps
# --------------------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, torch.dtype):
        return {"type": "torch.dtype", "value": str(value)}
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value[:16]]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in list(value.items())[:32]}
    return {"type": type(value).__name__, "repr": repr(value)[:200]}


def _collect(prefix: str, value: Any, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    if isinstance(value, torch.Tensor):
        tensors[prefix] = value.detach().cpu()
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _collect(f"{prefix}_{i}", item, tensors, meta)
        meta[f"{prefix}__container"] = {"type": type(value).__name__, "length": len(value)}
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect(f"{prefix}_{key}", item, tensors, meta)
        meta[f"{prefix}__container"] = {"type": "dict", "keys": [str(k) for k in value]}
    else:
        meta[prefix] = _json_value(value)


def _fsync_write(path: Path, text: str) -> None:
    """Write via a temp file + rename (never a half-written metadata.json), flushed and fsynced."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    with open(path, "wb") as fh:
        torch.save(tensors, fh)
        fh.flush()
        os.fsync(fh.fileno())


def _dump_inputs(
    cfg: KernelApiConfig,
    api: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> tuple[Path, DumpMetadata]:
    with _state.lock:
        n = _state.counters.get(api, 0) + 1
        _state.counters[api] = n
    stamp = dump_timestamp()
    folder = cfg.resolved_dump_dir() / dump_dir_name(stamp, os.getpid(), api, n)
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for i, arg in enumerate(args):
        _collect(f"arg_{i}", arg, tensors, meta)
    for key, value in kwargs.items():
        _collect(f"kwarg_{key}", value, tensors, meta)
    if tensors:
        _save_tensors(tensors, folder / "inputs.pt")
    metadata = DumpMetadata(api, stamp, os.getpid(), "inputs_saved", meta, tuple(tensors))
    _fsync_write(folder / "metadata.json", metadata.to_json())
    return folder, metadata


def _dump_outputs(folder: Path, metadata: DumpMetadata, result: Any) -> None:
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    _collect("result", result, tensors, meta)
    if tensors:
        _save_tensors(tensors, folder / "outputs.pt")
    done = replace(
        metadata, execution_status="completed", output_metadata=meta, output_tensor_keys=tuple(tensors)
    )
    _fsync_write(folder / "metadata.json", done.to_json())


def _mark_exception(folder: Path, metadata: DumpMetadata, exc: BaseException) -> None:
    failed = replace(
        metadata, execution_status="exception", exception={"type": type(exc).__name__, "message": str(exc)}
    )
    _fsync_write(folder / "metadata.json", failed.to_json())


# --------------------------------------------------------------------------------------------------
# The decorator
# --------------------------------------------------------------------------------------------------


def api_name_of(fn: Callable[..., Any]) -> str:
    qualname = getattr(fn, "__qualname__", getattr(fn, "__name__", "unknown"))
    qualname = qualname.replace(".<locals>.", ".").replace("<locals>.", "")
    module = getattr(fn, "__module__", "") or ""
    for prefix in ("sglang.", "sgl_kernel."):
        if module.startswith(prefix):
            module = module[len(prefix) :]
            break
    if module and module not in ("__main__", "builtins"):
        return f"{module}.{qualname}"
    try:
        source = inspect.getsourcefile(fn)
    except TypeError:
        source = None
    return f"{Path(source).stem}.{qualname}" if source else qualname


def _drops_self(fn: Callable[..., Any]) -> bool:
    try:
        params = tuple(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0] in ("self", "cls")


def _log(lines: list[str]) -> None:
    _logger.debug("\n".join(lines))


def _wrap(fn: Callable[..., Any], api: str, cfg: KernelApiConfig) -> Callable[..., Any]:
    level = cfg.level
    drop_self = _drops_self(fn)

    if level == 0:  # only reached when a fault plan targets this API

        @functools.wraps(fn)
        def fault_only(*args: Any, **kwargs: Any) -> Any:
            fault = faults.arm(api)
            if fault is None:
                return fn(*args, **kwargs)
            faults.fire_before(fault, api)
            return faults.fire_after(fault, fn(*args, **kwargs))

        setattr(fault_only, _MARK, True)
        return fault_only

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _is_compiling():
            return fn(*args, **kwargs)
        positional = args[1:] if drop_self and args else args
        lines = kernel_call_begin_lines(
            api,
            [describe_value(a, level) for a in positional] if level >= 3 else None,
            [(k, describe_value(v, level)) for k, v in kwargs.items()] if level >= 3 else None,
        )
        _log(lines)
        dump: tuple[Path, DumpMetadata] | None = None
        if level >= 10:
            if _graph_capture_active():
                _log(kernel_call_begin_lines(api, dump_skipped=True)[2:])
            elif cfg.should_dump(api):
                dump = _dump_inputs(cfg, api, positional, kwargs)
                _log([f"Dumped inputs to: {dump[0]}"])
        fault = faults.arm(api)
        try:
            if fault is not None:
                faults.fire_before(fault, api)
            result = fn(*args, **kwargs)
            if fault is not None:
                result = faults.fire_after(fault, result)
        except Exception as exc:
            if dump is not None:
                _mark_exception(dump[0], dump[1], exc)
            _log([kernel_exception_line(api, type(exc).__name__, str(exc))])
            raise
        if dump is not None:
            _dump_outputs(dump[0], dump[1], result)
        end = kernel_call_end_lines(
            describe_value(result, level) if level >= 3 else None,
            dumped_outputs_dir=str(dump[0]) if dump is not None else None,
        )
        if end:
            _log(end)
        return result

    setattr(wrapper, _MARK, True)
    return wrapper


@overload
def debug_kernel_api(fn: _F, *, name: str | None = None) -> _F: ...


@overload
def debug_kernel_api(fn: None = None, *, name: str | None = None) -> Callable[[_F], _F]: ...


def debug_kernel_api(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Log every call of ``fn`` as a kernel API block (see the module docstring).

    Args:
        fn: the function (bare ``@debug_kernel_api``) or ``None`` (``@debug_kernel_api(name=...)``).
        name: the API name; default :func:`api_name_of`.
    """

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        if getattr(f, _MARK, False):
            return f
        api = name or api_name_of(f)
        cfg = current_config()
        if cfg.level == 0 and not faults.targets(api):
            return f
        return _wrap(f, api, cfg)

    return decorate if fn is None else decorate(fn)


def debug_torch_op(name: str) -> Callable[[_F], _F]:
    """Decorator for a torch-level op (e.g. our attention call) under an explicit API name."""
    return debug_kernel_api(name=name if "." in name else f"backend.custom_op.{name}")


# --------------------------------------------------------------------------------------------------
# Instrumenting models
# --------------------------------------------------------------------------------------------------

_NORM_TYPES: tuple[type, ...] = tuple(
    t for t in (getattr(torch.nn, n, None) for n in ("LayerNorm", "GroupNorm", "RMSNorm")) if t is not None
)


def _is_target(module: torch.nn.Module) -> bool:
    return isinstance(module, (torch.nn.Linear, *_NORM_TYPES)) or type(module).__name__.endswith(
        ("RMSNorm", "LayerNorm", "GroupNorm")
    )


def _wrap_attr(obj: Any, attr: str, api: str, cfg: KernelApiConfig) -> bool:
    marker = f"_debug_kernel_{attr}_wrapped"
    if getattr(obj, marker, False) or (cfg.level == 0 and not faults.targets(api)):
        return False
    setattr(obj, attr, _wrap(getattr(obj, attr), api, cfg))
    setattr(obj, marker, True)
    return True


def instrument_module(model: torch.nn.Module, prefix: str) -> int:
    """Wrap the Linear and norm ``forward``s inside ``model`` (per instance); returns how many."""
    cfg = current_config()
    count = 0
    for path, module in model.named_modules():
        if _is_target(module):
            api = ".".join(p for p in (prefix, path, type(module).__name__, "forward") if p)
            count += _wrap_attr(module, "forward", api, cfg)
    return count


def instrument_pipeline(pipe: Any) -> int:
    """Instrument every ``nn.Module`` component of a diffusers pipeline, and the VAE decode."""
    components: Iterable[tuple[str, Any]] = getattr(pipe, "components", {}).items()
    cfg = current_config()
    count = 0
    for comp_name, comp in components:
        if isinstance(comp, torch.nn.Module):
            count += instrument_module(comp, f"backend.{comp_name}")
    vae = getattr(pipe, "vae", None)
    if vae is not None and hasattr(vae, "decode"):
        count += _wrap_attr(vae, "decode", f"backend.vae.{type(vae).__name__}.decode", cfg)
    return count


__all__ = [
    "LOGGER_NAME",
    "KernelApiConfig",
    "api_name_of",
    "current_config",
    "debug_kernel_api",
    "debug_torch_op",
    "describe_value",
    "instrument_module",
    "instrument_pipeline",
    "read_config",
    "reset",
    "tensor_stats",
]
