"""backend.outputs: SGLang's default output file names."""

from __future__ import annotations

from datetime import datetime

from backend.outputs import default_stem, output_name, sanitize


def test_default_stem_follows_sglang() -> None:
    when = datetime(2026, 11, 26, 1, 2, 3)
    assert default_stem("a red circle", "deadbeef", when) == "a_red_circle_20261126-010203_deadbeef"
    assert default_stem("", "deadbeef", when) == "output_20261126-010203"
    long = default_stem("x" * 300, "deadbeef", when)
    assert long.startswith("x" * 100 + "_2026") and len(long) <= 150


def test_sanitize_keeps_only_safe_characters() -> None:
    assert sanitize("a/b\\c: d?*é.png") == "abc_d.png"


def test_batch_suffix_and_explicit_name() -> None:
    assert output_name("p", "h", "img", 0, 1) == "img.png"
    assert output_name("p", "h", "dir/img.webp", 1, 2) == "img_1.webp"
    assert output_name("a b", "h", None, 1, 2).endswith("_h_1.png")
