"""backend.pipeline.attention: SDPA kernel choice, fallbacks, and equivalence with diffusers' own processor."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from backend.exit_codes import BackendError, ExitCode
from backend.pipeline import attention


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def messages() -> list[str]:
    handler = _Collect()
    logger = logging.getLogger("sgl_backend")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.messages
    logger.removeHandler(handler)
    attention.resolve(None, None, None, None)


def test_unimplemented_backend_falls_back_with_one_warning(messages: list[str]) -> None:
    st = attention.resolve("sliding_tile_attn", None, None, None)
    assert st.effective == "torch_sdpa" and st.kernels == []
    warned = [m for m in messages if "sliding_tile_attn" in m and "falling back" in m]
    assert len(warned) == 1 and "falling back to torch_sdpa" in warned[0]


def test_fa_maps_to_flash_and_flag_beats_env() -> None:
    st = attention.resolve("fa", "torch_sdpa", None, None)
    assert (st.requested, st.effective, st.kernels) == ("fa", "fa", ["flash"])
    st = attention.resolve(None, "torch_sdpa", '{"sdpa_kernels": ["math"], "scale": 0.5}', None)
    assert st.kernels == ["math"] and st.scale == 0.5


def test_bad_config_is_a_backend_error() -> None:
    with pytest.raises(BackendError) as info:
        attention.resolve("fa", None, "sdpa_kernels=math", None)  # fa allows flash/cudnn only
    assert info.value.code == ExitCode.BAD_ATTENTION_CONFIG


@pytest.mark.parametrize("name", ["missing.yaml", "conf/missing.json", "conf/attention"])
def test_a_missing_config_file_by_flag_says_no_such_file_like_the_variable(tmp_path: Path, name: str) -> None:
    path = str(tmp_path / name)
    with pytest.raises(BackendError) as by_flag:
        attention.resolve(None, None, path, None)
    assert by_flag.value.code == ExitCode.BAD_ATTENTION_CONFIG
    if path.endswith((".json", ".yaml")):
        with pytest.raises(BackendError) as by_variable:
            attention.resolve(None, None, None, path)
        assert "No such file" in by_variable.value.message
        assert "No such file" in by_flag.value.message and "could not parse" not in by_flag.value.message
    else:
        assert "must end in .json, .yaml or .yml" in by_flag.value.message


def test_unavailable_kernel_falls_back_once(messages: list[str]) -> None:
    attention.resolve(None, None, "sdpa_kernels=cudnn", None)  # no cuDNN attention on the CPU
    q = torch.randn(1, 2, 8, 16)
    for _ in range(2):
        out = attention.sdpa_attention(q, q, q)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, q, q))
    assert sum("cannot run" in m for m in messages) == 1


def test_processor_matches_diffusers() -> None:
    from backend.models.shapes_pipeline import build_untrained_pipeline

    pipe = build_untrained_pipeline(seed=1)
    attention.resolve(None, None, None, None)
    cond = pipe.encode_prompt(["a red circle"])
    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    kwargs = {"encoder_hidden_states": cond.embeds, "encoder_attention_mask": cond.mask,
              "timestep": torch.tensor([500.0]), "added_cond_kwargs": {"resolution": None, "aspect_ratio": None},
              "return_dict": False}
    with torch.no_grad():
        expected = pipe.transformer(latents, **kwargs)[0]
        assert attention.install(pipe) == 12
        got = pipe.transformer(latents, **kwargs)[0]
        torch.testing.assert_close(got, expected)
        attention.resolve(None, None, "scale=0.01", None)
        assert not torch.allclose(pipe.transformer(latents, **kwargs)[0], expected)
