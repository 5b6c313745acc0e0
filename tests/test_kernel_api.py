"""The kernel API decorator writes SGLang's block shapes, dumps and metadata, read back by records."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from backend import records as r
from backend.kernel_api import api_logging as kernel_api
from backend.kernel_api import faults
from backend.kernel_api.config import reset
from backend.kernel_api.describe import tensor_stats


@pytest.fixture
def kapi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Configure kernel API logging for one test: ``kapi(level, **env)`` returns the log path."""
    monkeypatch.chdir(tmp_path)

    def configure(level: int, **env: str) -> Path:
        environ = {
            "SGLANG_KERNEL_API_LOGLEVEL": str(level),
            "SGLANG_KERNEL_API_LOGDEST": str(tmp_path / "kapi_%i.log"),
            "SGLANG_KERNEL_API_DUMP_DIR": str(tmp_path / "dumps"),
            **env,
        }
        reset(environ)
        return tmp_path / f"kapi_{os.getpid()}.log"

    yield configure
    faults.install(None)
    reset({})


def _calls(log: Path) -> list[r.KernelApiCall]:
    return r.parse_kernel_api_log(log.read_text())


def test_level0_returns_original(kapi) -> None:  # type: ignore[no-untyped-def]
    kapi(0)

    def f(x: int) -> int:
        return x

    assert kernel_api.debug_kernel_api(f) is f
    assert kernel_api.debug_kernel_api(name="x")(f) is f
    assert kernel_api.instrument_module(torch.nn.Linear(2, 2), "backend.m") == 0


def test_bad_level_names_variable(kapi) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="SGLANG_KERNEL_API_LOGLEVEL"):
        kapi(0, SGLANG_KERNEL_API_LOGLEVEL="verbose")


def test_api_names() -> None:
    def outer():  # type: ignore[no-untyped-def]
        def inner() -> None: ...

        return inner

    assert kernel_api.api_name_of(outer()) == "tests.test_kernel_api.test_api_names.outer.inner"
    assert kernel_api.api_name_of(tensor_stats) == "backend.kernel_api.describe.tensor_stats"


def test_level1_block_shape(kapi) -> None:  # type: ignore[no-untyped-def]
    log = kapi(1)

    @kernel_api.debug_kernel_api
    def add(x: torch.Tensor) -> torch.Tensor:
        return x + 1

    add(torch.ones(2))
    lines = log.read_text().splitlines()
    assert lines[0] == "=" * 80
    assert lines[1].endswith("] SGLang Kernel API Call: tests.test_kernel_api.test_level1_block_shape.add")
    assert len(lines) == 2
    (call,) = _calls(log)
    assert not call.completed  # level 1: only a following block (or nothing) tells


def test_level3_exact_text(kapi) -> None:  # type: ignore[no-untyped-def]
    log = kapi(3)

    class Op:
        @kernel_api.debug_kernel_api(name="backend.op.scale")
        def __call__(self, x: torch.Tensor, factor: float, *, mode: str = "a") -> torch.Tensor:
            return x * factor

    Op()(torch.zeros(2, 3), 2.0, mode="fast")
    body = log.read_text().splitlines()[2:]
    assert body == [
        "Positional input arguments:",
        "  arg[0]=Tensor(",
        "      shape=(2, 3)",
        "      dtype=torch.float32",
        "      device=cpu",
        "      requires_grad=False",
        "      is_contiguous=True",
        "    )",
        "  arg[1]=2.0",
        "Keyword input arguments:",
        "  mode='fast'",
        "Output:",
        "  return=Tensor(",
        "      shape=(2, 3)",
        "      dtype=torch.float32",
        "      device=cpu",
        "      requires_grad=False",
        "      is_contiguous=True",
        "    )",
    ]
    (call,) = _calls(log)
    assert call.api_name == "backend.op.scale" and call.completed


def test_level5_statistics(kapi) -> None:  # type: ignore[no-untyped-def]
    log = kapi(5)

    @kernel_api.debug_kernel_api
    def f(*xs: torch.Tensor) -> torch.Tensor:
        return xs[0]

    bad = torch.tensor([1.0, float("nan"), float("inf"), -2.0], dtype=torch.float16)
    f(bad, torch.arange(4), torch.empty(0), torch.tensor([3 + 4j]), torch.tensor([1.0, 2.0]).t())
    (call,) = _calls(log)
    stats = [v.stats for _, v in call.inputs]  # type: ignore[union-attr]
    assert stats[0].nan_count == 1 and stats[0].inf_count == 1  # type: ignore[union-attr]
    assert stats[1] == r.TensorStats(0.0, 3.0, 1.5, 0, 0)
    assert stats[2] == r.TensorStats(note="empty tensor")
    assert stats[3] == r.TensorStats(5.0, 5.0, 5.0, 0, 0)  # complex: absolute value
    assert call.nan_total("output") == 1 and call.nan_total() == 2


def test_level10_dumps_and_metadata(kapi) -> None:  # type: ignore[no-untyped-def]
    log = kapi(10)

    @kernel_api.debug_kernel_api(name="backend.t.f")
    def f(x: torch.Tensor, opts: dict, dtype: torch.dtype = torch.float16) -> tuple[torch.Tensor, int]:
        return x.to(dtype), 3

    f(torch.ones(2), {"k": [1, torch.zeros(1)]}, dtype=torch.bfloat16)
    f(torch.ones(2), {})
    calls = _calls(log)
    assert [c.completed for c in calls] == [True, True]
    folder = Path(calls[0].dumped_inputs_dir)  # type: ignore[arg-type]
    assert calls[0].dumped_outputs_dir == str(folder) and folder.name.endswith("_backend.t.f_call0001")
    assert Path(calls[1].dumped_inputs_dir).name.endswith("_call0002")  # type: ignore[arg-type]
    meta = r.read_dump_metadata(folder)
    assert meta.execution_status == "completed" and meta.process_id == os.getpid()
    assert meta.input_tensor_keys == ("arg_0", "arg_1_k_1")
    assert meta.input_metadata["kwarg_dtype"] == {"type": "torch.dtype", "value": "torch.bfloat16"}
    assert meta.input_metadata["arg_1__container"] == {"type": "dict", "keys": ["k"]}
    assert meta.output_tensor_keys == ("result_0",) and meta.output_metadata["result_1"] == 3
    saved = torch.load(folder / "inputs.pt")
    assert set(saved) == {"arg_0", "arg_1_k_1"} and torch.equal(saved["arg_0"], torch.ones(2))
    assert [e.status for e in r.scan_dump_root("dumps")] == ["completed", "completed"]


def test_level10_filters_and_exception(kapi) -> None:  # type: ignore[no-untyped-def]
    log = kapi(
        10,
        SGLANG_KERNEL_API_DUMP_INCLUDE="backend.keep.*, backend.boom",
        SGLANG_KERNEL_API_DUMP_EXCLUDE="*.skip",
    )

    def make(name: str):  # type: ignore[no-untyped-def]
        def op(x: torch.Tensor) -> torch.Tensor:
            if name == "backend.boom":
                raise ValueError("bad shape")
            return x

        return kernel_api.debug_kernel_api(op, name=name)

    for name in ("backend.keep.a", "backend.keep.skip", "backend.other"):
        make(name)(torch.ones(1))
    with pytest.raises(ValueError, match="bad shape"):
        make("backend.boom")(torch.ones(1))
    calls = _calls(log)
    assert [c.dumped_inputs_dir is not None for c in calls] == [True, False, False, True]
    assert calls[-1].exception == ("ValueError", "bad shape") and calls[-1].completed
    meta = r.read_dump_metadata(calls[-1].dumped_inputs_dir)  # type: ignore[arg-type]
    assert meta.execution_status == "exception" and meta.exception == {
        "type": "ValueError",
        "message": "bad shape",
    }


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")
def test_fork_reresolves_pid(kapi, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    parent_log = kapi(1)

    @kernel_api.debug_kernel_api(name="backend.fork.f")
    def f() -> None: ...

    f()
    pid = os.fork()
    if pid == 0:  # child: must log to its own %i file
        try:
            f()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    child_log = tmp_path / f"kapi_{pid}.log"
    assert [c.api_name for c in _calls(child_log)] == ["backend.fork.f"]
    assert len(_calls(parent_log)) == 1


def test_instrument_module_and_pipeline(kapi) -> None:  # type: ignore[no-untyped-def]
    log = kapi(3)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.ReLU())
    assert kernel_api.instrument_module(model, "backend.toy") == 2
    assert kernel_api.instrument_module(model, "backend.toy") == 0  # idempotent
    model(torch.ones(1, 4))

    class Vae(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = torch.nn.GroupNorm(1, 2)

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            return self.norm(z)

    class Pipe:
        def __init__(self) -> None:
            self.vae = Vae()
            self.components = {"vae": self.vae, "scheduler": object()}

    pipe = Pipe()
    assert kernel_api.instrument_pipeline(pipe) == 2
    pipe.vae.decode(torch.ones(1, 2, 2))
    calls = _calls(log)
    assert [(c.api_name, c.depth) for c in calls] == [
        ("backend.toy.0.Linear.forward", 0),
        ("backend.toy.1.LayerNorm.forward", 0),
        ("backend.vae.Vae.decode", 0),
        ("backend.vae.norm.GroupNorm.forward", 1),
    ]
    assert all(c.completed for c in calls)


def test_level0_fault_only_wrapper(kapi) -> None:  # type: ignore[no-untyped-def]
    log = kapi(0)
    faults.install(faults.parse_fault_spec("exception@backend.hit.*:2"))

    def g(x: int) -> int:
        return x

    hit = kernel_api.debug_kernel_api(g, name="backend.hit.g")
    assert kernel_api.debug_kernel_api(g, name="backend.miss.g") is g
    assert hit is not g and hit(1) == 1
    with pytest.raises(RuntimeError, match="injected fault"):
        hit(2)
    assert hit(3) == 3  # fires once
    assert not log.exists()


def test_debug_torch_op_name(kapi) -> None:  # type: ignore[no-untyped-def]
    log = kapi(1)
    kernel_api.debug_torch_op("sdpa")(lambda: None)()
    kernel_api.debug_torch_op("backend.attention.sdpa")(lambda: None)()
    assert [c.api_name for c in _calls(log)] == ["backend.custom_op.sdpa", "backend.attention.sdpa"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensor_stats_and_dump(kapi) -> None:  # type: ignore[no-untyped-def]
    log = kapi(10)

    @kernel_api.debug_kernel_api(name="backend.cuda.f")
    def f(x: torch.Tensor) -> torch.Tensor:
        return x / 0

    f(torch.tensor([[1.0, -1.0], [0.0, 2.0]], device="cuda", dtype=torch.bfloat16))
    (call,) = _calls(log)
    arg = call.inputs[0][1]
    assert isinstance(arg, r.TensorDesc) and arg.device == "cuda:0" and arg.dtype == "torch.bfloat16"
    assert arg.stats == r.TensorStats(-1.0, 2.0, 0.5, 0, 0)
    assert call.nan_total("output") == 1 and call.inf_total("output") == 3
    saved = torch.load(Path(call.dumped_inputs_dir) / "inputs.pt")  # type: ignore[arg-type]
    assert saved["arg_0"].device.type == "cpu"
