"""backend.pipeline.loader: weight reader choice, reading, and model directory errors."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from backend.exit_codes import BackendError, ExitCode
from backend.pipeline import loader


@pytest.fixture
def fake_streamer(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A stand-in ``runai_model_streamer`` (the real one needs its native library) that records files."""
    streamed: list[str] = []

    class SafetensorsStreamer:
        def __enter__(self) -> SafetensorsStreamer:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def stream_file(self, path: str) -> None:
            streamed.append(path)
            self.path = path

        def get_tensors(self) -> Iterator[tuple[str, torch.Tensor]]:
            from safetensors.torch import load_file

            yield from load_file(self.path).items()

    module = types.ModuleType("runai_model_streamer")
    module.SafetensorsStreamer = SafetensorsStreamer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "runai_model_streamer", module)
    yield streamed


def test_reader_choice(fake_streamer: list[str]) -> None:
    assert loader.select_reader(True)[0] == "runai_streamer"
    assert loader.select_reader(False) == ("safetensors", "SGLANG_USE_RUNAI_MODEL_STREAMER=false")


def test_reader_choice_without_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "runai_model_streamer", None)
    assert loader.select_reader(True) == ("safetensors", "runai_model_streamer is not installed")


def test_both_readers_read_the_same(tmp_path: Path, fake_streamer: list[str]) -> None:
    weights = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(4, dtype=torch.int64)}
    save_file(weights, str(tmp_path / "model.safetensors"))
    for reader in ("safetensors", "runai_streamer"):
        got = loader.read_weights(tmp_path, reader)
        assert set(got) == {"a", "b"} and all(torch.equal(got[k], weights[k]) for k in weights)
    assert fake_streamer == [str(tmp_path / "model.safetensors")]


def test_model_path_errors(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as info:
        loader.resolve_model_path(str(tmp_path / "absent"), str(tmp_path))
    assert info.value.code == ExitCode.MODEL_ERROR and "does not exist" in info.value.message
    with pytest.raises(BackendError) as info:
        loader.resolve_model_path(str(tmp_path), str(tmp_path))
    assert "model_index.json" in info.value.message


@pytest.mark.parametrize("dual", [False, True], ids=["single", "dual"])
def test_loads_a_saved_pipeline_exactly(tmp_path: Path, dual: bool) -> None:
    from backend.models.shapes_pipeline import build_untrained_pipeline

    original = build_untrained_pipeline(seed=3, dual=dual)
    if dual:  # the trained weights ship in fp16 (train_shapes.py); the loader upcasts on load
        original = original.to(torch.float16)
    original.save_pretrained(str(tmp_path / "model"))
    pipe = loader.load_pipeline(tmp_path / "model", "safetensors", "test", torch.device("cpu"), torch.float32)
    assert (pipe.transformer_2 is not None) == dual
    for name in ("transformer", "vae", "text_encoder") + (("transformer_2",) if dual else ()):
        got, want = getattr(pipe, name).state_dict(), getattr(original, name).state_dict()
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k].float()) for k in want)
    if dual:
        assert pipe.config.boundary_ratio == original.config.boundary_ratio
