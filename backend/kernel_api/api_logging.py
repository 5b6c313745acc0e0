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

Rooms: :mod:`~backend.kernel_api.config` (``current_config()``, read once per process, and
``reset(environ=None)``, a re-read for tests; the logger), :mod:`~backend.kernel_api.describe`
(``describe_value(value, level)``: a torch value as the plain description :mod:`backend.records`
renders), :mod:`~backend.kernel_api.dumps` (the level-10 dump folders).

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

import functools
import inspect
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, overload

import torch

from backend.kernel_api import faults
from backend.kernel_api.config import LOGGER, KernelApiConfig, current_config
from backend.kernel_api.describe import describe_value, graph_capture_active, is_compiling
from backend.kernel_api.dumps import dump_inputs, dump_outputs, mark_exception
from backend.records import (
    DumpMetadata,
    kernel_call_begin_lines,
    kernel_call_end_lines,
    kernel_exception_line,
)

_F = TypeVar("_F", bound=Callable[..., Any])
_MARK = "_debug_kernel_wrapped"


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
    LOGGER.debug("\n".join(lines))


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
        if is_compiling():
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
            if graph_capture_active():
                _log(kernel_call_begin_lines(api, dump_skipped=True)[2:])
            elif cfg.should_dump(api):
                dump = dump_inputs(cfg, api, positional, kwargs)
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
                mark_exception(dump[0], dump[1], exc)
            _log([kernel_exception_line(api, type(exc).__name__, str(exc))])
            raise
        if dump is not None:
            dump_outputs(dump[0], dump[1], result)
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


__all__ = ["api_name_of", "debug_kernel_api", "debug_torch_op", "instrument_module", "instrument_pipeline"]
