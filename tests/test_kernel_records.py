"""backend/records/kernel_records.py (+ kernel_values.py): the kernel API block writers and parser.

Two kinds of input: the hand-made samples in ``tests/data`` (every value form: nesting, special
statistics, a multi-line exception) and the genuine SGLang 0.5.23 logs in
``tests/data/upstream/sglang-0.5.23/`` (one scenario at levels 1, 3, 5 and 10, a handled exception,
a crash, two processes, a log interleaved with the console). The writers must reproduce every
upstream log byte for byte from what the parser read; the decorator that calls the writers is
``tests/test_kernel_api.py``'s.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import records as r
from backend.records.kernel_values import walk_tensors
from tests.upstream_data import scenario

DATA = Path(__file__).parent / "data"
UPSTREAM_LOGS = sorted(scenario(".").glob("*/kernel_api*.log"))
LEVELS = {1: "level1", 3: "level3", 5: "level5", 10: "level10"}
"""The same four requests (ok, a handled shape error at step 1, NaN in and out, SIGKILL inside sdpa) per level."""
SHAPE_ERROR = ("RuntimeError", "Expected size for first two dimensions of batch2 tensor to be: [1, 8] but got: [1, 4].")


def upstream(name: str, log: str = "kernel_api.log") -> str:
    return (scenario(name) / log).read_text()


def render(call: r.KernelApiCall) -> list[str]:
    """The lines the writers give for a parsed call: begin, then the exception line or the end lines."""
    lines = r.kernel_call_begin_lines(
        call.api_name,
        [v for n, v in call.inputs if n.startswith("arg[")],
        [(n, v) for n, v in call.inputs if not n.startswith("arg[")],
        when=call.timestamp, dumped_inputs_dir=call.dumped_inputs_dir, dump_skipped=call.dump_skipped,
    )
    if call.exception is not None:
        return lines + [r.kernel_exception_line(call.api_name, *call.exception, when=call.timestamp)]
    if call.completed:
        lines += r.kernel_call_end_lines(call.output, dumped_outputs_dir=call.dumped_outputs_dir)
    return lines


def shape(calls: list[r.KernelApiCall]) -> list[tuple[str, bool, tuple[str, str] | None, int]]:
    return [(c.api_name, c.completed, c.exception, c.depth) for c in calls]


# ---- the genuine upstream logs ---------------------------------------------------------------------


@pytest.mark.parametrize("log", UPSTREAM_LOGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_writers_reproduce_every_upstream_log_byte_for_byte(log: Path) -> None:
    text = log.read_text()
    calls = r.parse_kernel_api_log(text)
    assert len(calls) == text.count("SGLang Kernel API Call: ") > 0
    assert [c.index for c in calls] == list(range(len(calls)))
    assert "\n".join(line for c in calls for line in render(c)) + "\n" == text


def test_the_four_levels_see_the_same_calls() -> None:
    parsed = {level: r.parse_kernel_api_log(upstream(name)) for level, name in LEVELS.items()}
    names = [c.api_name for c in parsed[1]]
    assert len(names) == 38 and names[:3] == ["jit_kernel.norm.rmsnorm", "jit_kernel.norm.rmsnorm",
                                               "multimodal_gen.runtime.layers.attention.backends.sdpa.sdpa"]
    for level, calls in parsed.items():
        assert [c.api_name for c in calls] == names, level
        assert all(c.depth == 0 for c in calls)  # upstream's kernels do not nest here
        # the SIGKILL inside sdpa: the last call, and only it, never finished
        assert [c.index for c in calls if not c.completed] == [37] and calls[-1].api_name.endswith(".sdpa")
        assert [c.exception for c in calls if c.exception] == [SHAPE_ERROR]


def test_level1_blocks_are_headers_only() -> None:
    parser = r.KernelApiLogParser()
    for line in upstream("level1").splitlines():
        parser.feed(line)
    assert not parser.detailed
    calls = parser.flush()
    assert all(not c.inputs and c.output is None and c.dumped_inputs_dir is None for c in calls)
    assert calls[-1].timestamp == datetime(2026, 12, 1, 13, 37, 30)


def test_level3_has_arguments_without_statistics_level5_adds_them() -> None:
    level3, level5 = (r.parse_kernel_api_log(upstream(LEVELS[n])) for n in (3, 5))
    norm3, norm5 = level3[0], level5[0]
    assert [n for n, _ in norm3.inputs] == [n for n, _ in norm5.inputs] == ["arg[0]", "arg[1]"]
    t3, t5 = norm3.inputs[0][1], norm5.inputs[0][1]
    assert isinstance(t3, r.TensorDesc) and isinstance(t5, r.TensorDesc)
    assert (t3.shape, t3.dtype, t3.device, t3.stats) == ((1, 3, 8), "torch.float32", "cpu", None)
    assert t5.stats == r.TensorStats(-1.803364, 1.879346, 0.015358, 0, 0)
    sdpa3 = level3[2]
    assert sdpa3.inputs[-1] == ("causal", r.ArgDesc("repr", "False"))
    tensors3 = [t for c in level3 for _, v in c.inputs for t in walk_tensors(v)]
    assert tensors3 and all(t.stats is None for t in tensors3)
    assert sum(c.nan_total() for c in level3) == 0  # no statistics, so nothing to count


def test_level5_counts_the_nan_request() -> None:
    calls = r.parse_kernel_api_log(upstream(LEVELS[5]))
    with_nan = [c for c in calls if c.nan_total("inputs")]
    assert with_nan and all(c.nan_total("output") for c in with_nan if c.output is not None)
    clean = calls[:with_nan[0].index]
    assert clean and all(c.nan_total() == 0 and c.inf_total() == 0 for c in clean)


def test_level10_dump_lines_name_the_dump_folders() -> None:
    calls = r.parse_kernel_api_log(upstream(LEVELS[10]))
    assert all(c.dumped_inputs_dir is not None for c in calls)
    failed = next(c for c in calls if c.exception)
    assert failed.dumped_outputs_dir is None and failed.output is None  # raised: no outputs
    assert calls[-1].dumped_outputs_dir is None and not calls[-1].completed
    ok = [c for c in calls if c.completed and not c.exception]
    assert all(c.dumped_outputs_dir == c.dumped_inputs_dir for c in ok)
    folders = {p.name for p in (scenario("level10") / "dumps").iterdir()}
    named = {Path(c.dumped_inputs_dir).name for c in calls if c.dumped_inputs_dir}
    assert folders and folders <= named  # every folder on disk is one a block names
    assert all(Path(d).name.endswith(f"_call{n:04d}") for d, n in
               ((c.dumped_inputs_dir, int(c.dumped_inputs_dir[-4:])) for c in calls if c.dumped_inputs_dir))


def test_a_handled_exception_then_a_cuda_error() -> None:
    calls = r.parse_kernel_api_log(upstream("handled_then_cuda_error"))
    failed = [c for c in calls if c.exception]
    assert [c.exception for c in failed] == [SHAPE_ERROR, ("RuntimeError", "CUDA error: an illegal memory access was encountered")]
    assert all(c.completed and c.output is None and c.inputs for c in failed)
    after = calls[failed[0].index + 1]
    assert after.completed and after.exception is None  # the run went on after the handled error


def test_interleaved_console_gives_the_same_calls_as_the_kernel_log() -> None:
    """merged_l5: LOGDEST=stdout, so stage lines and the progress bar sit between and inside blocks."""
    console = upstream("merged_l5", "console.log")
    assert "[InputValidationStage] started..." in console
    merged = r.parse_kernel_api_log(console)
    alone = r.parse_kernel_api_log(upstream(LEVELS[5]))
    assert shape(merged) == shape(alone)
    assert [[n for n, _ in c.inputs] for c in merged] == [[n for n, _ in c.inputs] for c in alone]


@pytest.mark.parametrize("level", [1, 3, 10])
def test_any_truncation_keeps_what_was_read_and_leaves_at_most_the_last_call_open(level: int) -> None:
    lines = upstream(LEVELS[level]).splitlines()
    full = r.parse_kernel_api_log("\n".join(lines))
    for cut in range(1, len(lines), 7 if level > 1 else 1):
        calls = r.parse_kernel_api_log("\n".join(lines[:cut]))
        assert [c.api_name for c in calls] == [c.api_name for c in full[: len(calls)]], cut
        # earlier blocks are final (compared as text: a NaN statistic is never == itself)
        assert all(render(c) == render(f) for c, f in zip(calls[:-2], full, strict=False)), cut
        assert [c.index for c in calls if not c.completed] in ([], [len(calls) - 1]), cut


def test_a_block_fed_line_by_line_is_emitted_once_on_its_last_line() -> None:
    lines = upstream(LEVELS[5]).splitlines(keepends=True)
    parser = r.KernelApiLogParser()
    emitted: list[tuple[int, r.KernelApiCall]] = []
    for number, line in enumerate(lines):
        before = parser.open_calls
        got = parser.feed(line)  # with its newline, as read from a file
        emitted += [(number, c) for c in got]
        if number == 16:  # mid-way through the first call's second tensor
            (open_call,) = parser.open_calls
            assert [n for n, _ in open_call.inputs] == ["arg[0]"] and not open_call.completed
        if got:
            assert before  # only a call already open can complete
    emitted += [(len(lines), c) for c in parser.flush()]
    whole = r.parse_kernel_api_log("".join(lines))
    assert [render(c) for _, c in sorted(emitted, key=lambda e: e[1].index)] == [render(c) for c in whole]
    first_line, first = emitted[0]
    assert first.index == 0 and lines[first_line] == "    )\n" and lines[first_line + 1].startswith("=" * 80)


def test_coloured_and_crlf_lines_parse_like_plain_ones() -> None:
    text = upstream(LEVELS[3])
    block = text[: text.index("=" * 80, 1)]
    painted = "".join(f"\x1b[33m{line}\x1b[0m\r\n" for line in block.splitlines())
    assert r.parse_kernel_api_log(painted) == r.parse_kernel_api_log(block)


# ---- kernel API blocks ---------------------------------------------------------------------------

LEVEL10 = DATA / "sglang_kernel_api_level10.log"


def test_kernel_log_sample_level10() -> None:
    calls = r.parse_kernel_api_log(LEVEL10.read_text())
    assert [c.api_name for c in calls] == [
        "jit_kernel.norm.rmsnorm",
        "multimodal_gen.runtime.layers.attention.backends.flash_attn.FlashAttentionImpl.forward",
        "jit_kernel.rope.apply_rotary_embedding",
        "multimodal_gen.runtime.models.vaes.AutoencoderKL.decode",
        "jit_kernel.norm.group_norm",
        "sglang.custom_op.fused_silu_mul",
    ]
    norm, attn, rope, decode, gn, silu = calls
    assert norm.completed and norm.timestamp == datetime(2026, 5, 1, 12, 34, 56)
    assert [n for n, _ in norm.inputs] == ["arg[0]", "arg[1]", "eps", "out"]
    assert norm.inputs[0][1] == r.TensorDesc(
        (4, 3072), "torch.bfloat16", "cuda:0", False, True, r.TensorStats(-4.25, 5.125, 0.001953, 0, 0)
    )
    assert norm.dumped_inputs_dir == norm.dumped_outputs_dir != None  # noqa: E711
    assert isinstance(norm.output, r.TensorDesc) and norm.output.shape == (4, 3072)
    # special statistics forms, nested containers, objects
    first = attn.inputs[0][1]
    assert isinstance(first, r.TensorDesc) and first.stats == r.TensorStats(
        note="skipped: CUDA graph capture in progress"
    )
    seq = attn.inputs[1][1]
    assert isinstance(seq, r.ArgDesc) and seq.kind == "list" and seq.more == 3
    assert seq.items[0][1] == r.TensorDesc(
        (0,), "torch.float32", "cuda:0", stats=r.TensorStats(note="empty tensor")
    )
    assert seq.items[2][1] == r.ArgDesc("repr", "'causal'")
    assert seq.items[3][1] == r.ArgDesc("list", items=(("0", r.ArgDesc("elided", "list")),))
    mapping = attn.inputs[2][1]
    assert isinstance(mapping, r.ArgDesc) and [k for k, _ in mapping.items] == [
        "'scale'",
        "'window'",
        "'backend'",
    ]
    assert mapping.items[2][1] == r.ArgDesc(
        "object", "AttentionBackendEnum", attrs=(("repr", "<AttentionBackendEnum.FA: 1>"),)
    )
    assert attn.inputs[3][1] == r.ArgDesc(
        "object",
        "ScaledTensor",
        attrs=(("shape", "torch.Size([4, 4])"), ("dtype", "torch.float8_e4m3fn"), ("device", "cuda:0")),
    )
    assert attn.dump_skipped and attn.completed and isinstance(attn.output, r.ArgDesc)
    # multi-line exception message
    assert rope.completed and rope.exception is not None and rope.exception[0] == "RuntimeError"
    assert rope.exception[1].startswith("CUDA error: an illegal memory access was encountered\nCUDA kernel")
    assert rope.exception[1].endswith("CUDA_LAUNCH_BLOCKING=1")
    assert rope.nan_total() == 12 and rope.inf_total("inputs") == 3 and rope.nan_total("output") == 0
    # nesting and the crash: the decode waits for its group norm, the fused op never returns
    assert gn.completed and gn.depth == 1
    assert not decode.completed and decode.depth == 0
    assert not silu.completed and silu.depth == 1
    assert silu.dumped_inputs_dir is not None and silu.dumped_inputs_dir.endswith("_call0007")


def test_kernel_log_sample_level1_interleaved() -> None:
    calls = r.parse_kernel_api_log((DATA / "sglang_kernel_api_level1.log").read_text())
    assert [(c.api_name, c.completed) for c in calls] == [
        ("jit_kernel.norm.rmsnorm", True),
        ("jit_kernel.rope.apply_rotary_embedding", True),
        ("sglang.custom_op.fused_silu_mul", False),
    ]


def test_incremental_feed_emits_when_complete() -> None:
    parser = r.KernelApiLogParser()
    lines = LEVEL10.read_text().splitlines()
    out_at = [i for i, line in enumerate(lines) if parser.feed(line)]
    # rmsnorm completes on its last return line (the "    )" closer), before the interleaved log line
    assert lines[out_at[0]] == "    )" and lines[out_at[0] + 1].startswith("[05-01")
    assert [c.api_name for c in parser.open_calls] == [
        "multimodal_gen.runtime.models.vaes.AutoencoderKL.decode",
        "sglang.custom_op.fused_silu_mul",
    ]
    flushed = parser.flush()
    assert [c.completed for c in flushed] == [False, False]
    assert flushed[-1].api_name == "sglang.custom_op.fused_silu_mul"


def test_writer_reproduces_sample_bytes() -> None:
    """Parsing the sample and writing it again gives the same text (minus ordinary log lines)."""
    text = LEVEL10.read_text()
    calls = r.parse_kernel_api_log(text)
    norm = calls[0]
    lines = r.kernel_call_begin_lines(
        norm.api_name,
        [v for n, v in norm.inputs if n.startswith("arg[")],
        [(n, v) for n, v in norm.inputs if not n.startswith("arg[")],
        when=norm.timestamp,
        dumped_inputs_dir=norm.dumped_inputs_dir,
    ) + r.kernel_call_end_lines(norm.output, dumped_outputs_dir=norm.dumped_outputs_dir)
    assert "\n".join(lines) + "\n" == text.split("[05-01 12:34:56]")[0]
    attn = calls[1]
    out = r.kernel_call_end_lines(attn.output)
    assert "\n".join(out) in text
    rope = calls[2]
    exc_line = r.kernel_exception_line(rope.api_name, *rope.exception, when=rope.timestamp)  # type: ignore[misc]
    assert exc_line in text


_repr_text = st.one_of(
    st.integers().map(repr),
    st.text(max_size=12).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["None", "True", "False"]),
)
_stat = st.floats(-1e6, 1e6).map(lambda x: float(f"{x:.6f}"))
_stats = st.one_of(
    st.none(),
    st.builds(r.TensorStats, _stat, _stat, _stat, st.integers(0, 99), st.integers(0, 99)),
    st.sampled_from(["empty tensor", "skipped: graph capture in progress", "unavailable: RuntimeError"]).map(
        lambda n: r.TensorStats(note=n)
    ),
)
_tensor = st.builds(
    r.TensorDesc,
    st.lists(st.integers(0, 4096), max_size=4).map(tuple),
    st.sampled_from(["torch.float32", "torch.bfloat16", "torch.int64"]),
    st.sampled_from(["cpu", "cuda:0", "cuda:7"]),
    st.booleans(),
    st.booleans(),
    _stats,
)


def _values(depth: int) -> st.SearchStrategy[r.ValueDesc]:
    leaf: st.SearchStrategy[r.ValueDesc] = st.one_of(
        _tensor,
        _repr_text.map(lambda t: r.ArgDesc("repr", t)),
        st.sampled_from(["int", "list", "dict"]).map(lambda t: r.ArgDesc("elided", t)),
        st.builds(
            lambda t, v: r.ArgDesc("object", t, attrs=(("repr", v),)),
            st.sampled_from(["Foo", "dtype"]),
            st.text("abc<>: ", min_size=1, max_size=10),
        ),
    )
    if depth >= 2:
        return st.sampled_from(["int", "Tensor"]).map(lambda t: r.ArgDesc("elided", t))
    child = _values(depth + 1)
    seq = st.builds(
        lambda kind, items, more: r.ArgDesc(
            kind, items=tuple((str(i), v) for i, v in enumerate(items)), more=more
        ),
        st.sampled_from(["list", "tuple"]),
        st.lists(child, max_size=4),
        st.integers(0, 5),
    )
    dct = st.builds(
        lambda items, more: r.ArgDesc("dict", items=tuple((repr(k), v) for k, v in items.items()), more=more),
        st.dictionaries(st.text("ab: '", max_size=4), child, max_size=4),
        st.integers(0, 3),
    )
    return st.one_of(leaf, seq, dct)


@given(
    st.lists(_values(0), max_size=3),
    st.lists(st.tuples(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), _values(0)), max_size=2),
    _values(0),
)
@settings(max_examples=120, deadline=None)
def test_kernel_block_round_trip(
    args: list[r.ValueDesc], kwargs: list[tuple[str, r.ValueDesc]], output: r.ValueDesc
) -> None:
    when = datetime(2026, 5, 1, 1, 2, 3)
    lines = r.kernel_call_begin_lines("backend.x.f", args, kwargs, when=when, dumped_inputs_dir="d") + (
        r.kernel_call_end_lines(output, dumped_outputs_dir="d")
    )
    (call,) = r.parse_kernel_api_log("\n".join(lines))
    assert call.completed and call.timestamp == when and call.output == output
    assert call.inputs == tuple([(f"arg[{i}]", v) for i, v in enumerate(args)] + list(kwargs))


def test_truncated_block_is_in_flight() -> None:
    lines = r.kernel_call_begin_lines("backend.a", [r.TensorDesc((2,), "torch.float32", "cpu")])
    lines += r.kernel_call_begin_lines(
        "backend.b", [r.TensorDesc((2,), "torch.float32", "cpu")], dumped_inputs_dir="x"
    )
    calls = r.parse_kernel_api_log("\n".join(lines[:-3]))  # cut inside b's tensor
    assert calls[-1].api_name == "backend.b" and not calls[-1].completed
    assert isinstance(calls[-1].inputs[0][1], r.TensorDesc)


def test_traceback_after_open_block_is_ignored() -> None:
    lines = r.kernel_call_begin_lines("backend.a", [r.ArgDesc("repr", "1")], [("k", r.ArgDesc("repr", "2"))])
    lines += [
        "Traceback (most recent call last):",
        '  File "/srv/a=b/x.py", line 3, in <module>',
        "    result = fn(*args, **kwargs)",
        "KeyboardInterrupt",
    ]
    (call,) = r.parse_kernel_api_log("\n".join(lines))
    assert [n for n, _ in call.inputs] == ["arg[0]", "k"] and not call.completed
