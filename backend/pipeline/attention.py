"""Our attention: every transformer attention call goes through torch SDPA, as a kernel API boundary.

Why one function: the kernel API log, fault drills and profiler all see ``backend.attention.
sdpa_attention`` as the attention kernel, whatever backend was asked for.

Backends: ``torch_sdpa`` (and auto) lets torch pick among all SDPA kernels unless the config's
``sdpa_kernels`` restricts them; ``fa`` (fa3/fa4 aliases) means SDPA's flash kernel (config may allow
``cudnn`` too).  Every other SGLang backend (sage_attn, sliding_tile_attn, ...) has no kernels here:
it falls back to torch_sdpa with one warning naming the backend and why.  A kernel that cannot serve
a call (cudnn on CPU, flash with a padding mask on CUDA) falls back to the remaining kernels with one
warning per kernel set and reason.

The config (validated by :mod:`backend.attention_config`) is held in :class:`AttentionState`; serve
swaps it between requests (hot reload), never during one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from backend.attention_config import (
    AttentionConfigError,
    diff_configs,
    load_attention_config,
    parse_config_arg,
)
from backend.exit_codes import BackendError, ExitCode
from backend.kernel_api.api_logging import debug_kernel_api
from backend.logging_setup import get_logger

log = get_logger("attention")

KERNELS = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "math": SDPBackend.MATH,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
}
IMPLEMENTED = ("torch_sdpa", "fa")
_NO_KERNEL = ("No viable backend", "No available kernel")


def fallback_reason(backend: str) -> str:
    """Why a backend has no implementation in the bundled runtime."""
    needs = {
        "sage_attn": "the sageattention kernels", "sage_attn_3": "the SageAttention3 (Blackwell FP4) kernels",
        "sliding_tile_attn": "the ST-Attn kernels and a video model", "video_sparse_attn": "the VSA kernels and a video model",
        "vmoba_attn": "the V-MoBA kernels and a video model", "aiter": "AMD AITer (ROCm only)",
        "aiter_sage": "AMD AITer SageAttention (ROCm only)", "sla_attn": "the SLA sparse-linear kernels",
        "sage_sla_attn": "the SageSLA kernels", "sparse_video_gen_2_attn": "the Sparse-VideoGen2 kernels and a video model",
    }.get(backend, "kernels this runtime does not ship")
    return f"the bundled backend routes attention through torch SDPA only; {backend} needs {needs}"


@dataclass
class AttentionState:
    """The attention backend in force and its validated config (swapped between requests only)."""

    requested: str | None
    """What the flag or SGLANG_DIFFUSION_ATTENTION_BACKEND asked for (None: auto)."""
    config: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    """Where ``config`` came from (file path, ``--attention-backend-config``), for logs."""
    _warned: set[tuple[str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def effective(self) -> str:
        """The backend that really runs: torch_sdpa or fa."""
        return self.requested if self.requested in IMPLEMENTED else "torch_sdpa"

    @property
    def kernels(self) -> list[str]:
        """SDPA kernels allowed, in priority order; empty means torch's own choice among all."""
        wanted = self.config.get("sdpa_kernels")
        if wanted:
            return [wanted] if isinstance(wanted, str) else list(wanted)
        return ["flash"] if self.effective == "fa" else []

    @property
    def scale(self) -> float | None:
        value = self.config.get("scale")
        return float(value) if value is not None else None

    def describe(self) -> dict[str, Any]:
        """JSON-able summary for responses, PNG metadata and dev endpoints."""
        return {"requested": self.requested or "auto", "effective": self.effective,
                "sdpa_kernels": self.kernels or "auto", "config": dict(self.config), "source": self.source}

    def replace_config(self, new: dict[str, Any], source: str) -> list[str]:
        """Swap in a validated config; returns the diff lines (``+ k=v`` ...)."""
        changes = diff_configs(self.config, new)
        self.config, self.source = dict(new), source
        self._warned.clear()
        return changes

    def warn_once(self, key: str, message: str) -> None:
        with self._lock:
            if (self.effective, key) in self._warned:
                return
            self._warned.add((self.effective, key))
        log.warning(message)


_STATE = AttentionState(requested=None)


def state() -> AttentionState:
    return _STATE


def resolve(flag_backend: str | None, env_backend: str | None, flag_config: str | None,
            env_config: str | None) -> AttentionState:
    """Build the process's attention state from flags (win) and the registry's variables.

    Raises:
        BackendError: ``BAD_ATTENTION_CONFIG`` when the config cannot be parsed or validated.
    """
    global _STATE
    requested = flag_backend or env_backend
    st = AttentionState(requested=requested)
    if requested and requested not in IMPLEMENTED:
        log.warning("Attention backend %s is not available here, falling back to torch_sdpa: %s",
                    requested, fallback_reason(requested))
    try:
        if flag_config:
            st.config, st.source = parse_config_arg(flag_config, requested), "--attention-backend-config"
            if not flag_config.lstrip().startswith("{") and "=" not in flag_config:
                st.source = flag_config
        elif env_config:
            st.config, st.source = load_attention_config(env_config, requested), env_config
    except AttentionConfigError as exc:
        where = exc.path or flag_config or env_config
        raise BackendError(ExitCode.BAD_ATTENTION_CONFIG, f"Attention config {where}: {exc}") from None
    unused = sorted(set(st.config) - {"sdpa_kernels", "scale"})
    if unused:
        log.warning("Attention config keys %s are valid for %s but unused by the torch SDPA path",
                    ", ".join(unused), requested)
    log.info("Attention backend: %s (requested: %s; SDPA kernels: %s%s)", st.effective, requested or "auto",
             ",".join(st.kernels) or "auto", f"; config from {st.source}" if st.source else "")
    _STATE = st
    return st


@debug_kernel_api(name="backend.attention.sdpa_attention")  # the log contract's name, not the file's
def sdpa_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                   attn_mask: torch.Tensor | None = None, scale: float | None = None) -> torch.Tensor:
    """Scaled dot-product attention with the kernels the current backend allows."""
    st = _STATE
    kernels = st.kernels
    if not kernels:
        return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, scale=scale)
    try:
        with sdpa_kernel([KERNELS[k] for k in kernels], set_priority=len(kernels) > 1):
            return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, scale=scale)
    except RuntimeError as exc:
        if not any(s in str(exc) for s in _NO_KERNEL):
            raise
        why = "with an attention mask" if attn_mask is not None else "for these inputs"
        st.warn_once(
            f"{kernels}:{query.device.type}:{query.dtype}",
            f"SDPA kernel(s) {','.join(kernels)} of attention backend {st.effective} cannot run on "
            f"{query.device.type} {str(query.dtype).removeprefix('torch.')} {why}; "
            "letting torch pick another SDPA kernel for such calls")
        return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, scale=scale)


class SDPAAttnProcessor:
    """A diffusers attention processor (same math as ``AttnProcessor2_0``) calling :func:`sdpa_attention`."""

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None,
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        batch_size, seq_len, _ = (hidden_states if encoder_hidden_states is None else encoder_hidden_states).shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, seq_len, batch_size)
            attention_mask = attention_mask.view(batch_size, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key = attn.to_k(encoder_hidden_states)
        value = attn.to_v(encoder_hidden_states)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        out = sdpa_attention(query, key, value, attn_mask=attention_mask, scale=_STATE.scale)
        out = out.transpose(1, 2).reshape(batch_size, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def install(pipe: Any) -> int:
    """Route every diffusers ``Attention`` of the pipeline's transformers through our processor."""
    count = 0
    for name in ("transformer", "transformer_2", "unet"):
        model = getattr(pipe, name, None)
        if model is not None and hasattr(model, "set_attn_processor"):
            n = len(model.attn_processors)
            model.set_attn_processor(SDPAAttnProcessor())
            count += n
    log.debug("Installed the SDPA attention processor on %d attention layers", count)
    return count
