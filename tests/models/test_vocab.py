"""The prompt grammar: what parses, what is refused and how, and that training prompts round-trip."""

from __future__ import annotations

import pytest

from backend.models.vocab import (
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    ParsedPrompt,
    PromptError,
    parse_prompt,
    token_list,
    tokenize,
    training_prompts,
)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a red circle", ParsedPrompt("red", "circle", None, None)),
        ("a small green triangle at the top left", ParsedPrompt("green", "triangle", "small", "top left")),
        ("A BIG Blue square, in the centre.", ParsedPrompt("blue", "square", "large", "center")),
        (
            "an orange diamond on the lower-right corner",
            ParsedPrompt("orange", "diamond", None, "bottom right"),
        ),
        ("tiny pink cross at the left side", ParsedPrompt("pink", "cross", "small", "left")),
        ("a circle at the top", ParsedPrompt(None, "circle", None, "top")),
        ("", ParsedPrompt(None, None, None, None)),
    ],
)
def test_parse_prompt(prompt: str, expected: ParsedPrompt) -> None:
    assert parse_prompt(prompt) == expected


def test_vocabulary_is_large_enough_for_the_issue() -> None:
    assert len(COLOURS) >= 6 and len(SHAPES) >= 4 and len(SIZES) == 3 and len(POSITIONS) == 9


def test_unknown_word_names_it_suggests_and_lists_the_vocabulary() -> None:
    with pytest.raises(PromptError) as caught:
        parse_prompt("a blu circel on a photograph")
    message = str(caught.value)
    assert "'blu' (did you mean 'blue'?)" in message
    assert "'circel' (did you mean 'circle'?)" in message
    assert "'photograph'" in message
    assert "colours: red, orange" in message and "shapes: circle, square" in message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "prompt", ["a red blue circle", "a red circle and a square", "a small large circle", "top bottom circle"]
)
def test_conflicting_attributes_are_refused(prompt: str) -> None:
    with pytest.raises(PromptError):
        parse_prompt(prompt)


def test_too_many_words_is_refused() -> None:
    with pytest.raises(PromptError, match="at most"):
        parse_prompt("a " * 20 + "red circle")


def test_tokenize_starts_with_the_start_token() -> None:
    vocab = token_list()
    ids = tokenize("a red circle", vocab)
    assert [vocab[i] for i in ids] == ["<s>", "a", "red", "circle"]


def test_every_training_prompt_parses_back_to_its_labels() -> None:
    colours = list(COLOURS)
    for text, colour, shape, size, position in training_prompts():
        parsed = parse_prompt(text)
        assert parsed.colour == colours[colour] and parsed.shape == SHAPES[shape], text
        assert parsed.size == (SIZES[size] if size >= 0 else None), text
        assert parsed.position == (POSITIONS[position] if position >= 0 else None), text
