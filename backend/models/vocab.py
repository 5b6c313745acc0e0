"""The prompt language of the embedded shapes model: its words, its grammar and its tokenizer.

The model only knows what it was trained on, so the vocabulary is closed and checked up front: a prompt
with a word outside it raises `PromptError` (a `ValueError`) naming the unknown words, the nearest known
ones and the full word list, instead of silently generating noise. The same tables drive the training
prompts (`training_prompts`) and the parser the quality test uses (`parse_prompt`), so the words a user
may type and the words the model saw cannot drift apart. No torch here: the backend can validate a
prompt before it pays for loading the model.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 38, 38),
    "orange": (245, 130, 20),
    "yellow": (235, 200, 20),
    "green": (34, 160, 60),
    "cyan": (20, 190, 205),
    "blue": (37, 70, 220),
    "purple": (130, 50, 190),
    "pink": (240, 110, 180),
}
"""Colour words and their sRGB values; the order is the label order of the classifier."""

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross")
"""Shape words; the order is the label order of the classifier."""

SIZES: tuple[str, ...] = ("small", "medium", "large")
"""Canonical size classes, smallest first."""

SIZE_WORDS: dict[str, int] = {"small": 0, "tiny": 0, "medium": 1, "large": 2, "big": 2}
"""Every size word and the index of its class in `SIZES`."""

POSITIONS: tuple[str, ...] = (
    "top left", "top", "top right",
    "left", "center", "right",
    "bottom left", "bottom", "bottom right",
)
"""Canonical positions: the cells of a 3x3 grid, row-major, so index = 3 * row + column."""

_ROW_WORDS: dict[str, int] = {"top": 0, "upper": 0, "bottom": 2, "lower": 2}
_COLUMN_WORDS: dict[str, int] = {"left": 0, "right": 2}
_CENTRE_WORDS: tuple[str, ...] = ("center", "centre", "middle")
FILLER_WORDS: tuple[str, ...] = ("a", "an", "the", "at", "in", "on", "of", "corner", "side")
"""Words that carry no attribute but are part of natural prompts."""

PAD_TOKEN = "<pad>"
START_TOKEN = "<s>"
MAX_TOKENS = 16
"""Token budget including the start token; the longest grammatical prompt needs 10."""


class PromptError(ValueError):
    """A prompt the embedded model cannot draw; the message says which words are understood."""


@dataclass(frozen=True)
class ParsedPrompt:
    """The attributes a prompt asks for; None where the prompt leaves the choice to the model."""

    colour: str | None
    shape: str | None
    size: str | None
    position: str | None


def vocabulary() -> list[str]:
    """Every word the model understands, in token-id order after the two special tokens."""
    words = set(COLOURS) | set(SHAPES) | set(SIZE_WORDS) | set(_ROW_WORDS) | set(_COLUMN_WORDS)
    words |= set(_CENTRE_WORDS) | set(FILLER_WORDS)
    return sorted(words)


def words_of(prompt: str) -> list[str]:
    """Lower-cased words of a prompt; punctuation and hyphens separate words and are dropped."""
    return re.findall(r"[a-z]+", prompt.lower())


def _understood_words() -> str:
    return (
        f"colours: {', '.join(COLOURS)}; shapes: {', '.join(SHAPES)}; sizes: {', '.join(SIZE_WORDS)}; "
        f"positions: {', '.join([*_ROW_WORDS, *_COLUMN_WORDS, *_CENTRE_WORDS])}; "
        f"other words: {', '.join(FILLER_WORDS)}"
    )


def parse_prompt(prompt: str) -> ParsedPrompt:
    """Check a prompt against the grammar and return the attributes it names.

    Args:
        prompt: Free text such as "a small green triangle at the top left". Empty means unconditional.

    Returns:
        The colour, shape, size and position named, each None when not named.

    Raises:
        PromptError: On an unknown word (with nearest matches), too many words, or two different words
            for the same attribute (the model draws one shape at a time).
    """
    words = words_of(prompt)
    known = set(vocabulary())
    unknown = [w for w in dict.fromkeys(words) if w not in known]
    if unknown:
        hints = []
        for word in unknown:
            close = difflib.get_close_matches(word, sorted(known), n=3, cutoff=0.6)
            hints.append(
                f"'{word}' (did you mean {' or '.join(repr(c) for c in close)}?)" if close else f"'{word}'"
            )
        raise PromptError(
            f"The embedded shapes model does not know {', '.join(hints)}. It understands {_understood_words()}. "
            "Example: 'a small green triangle at the top left'."
        )
    if len(words) > MAX_TOKENS - 1:
        raise PromptError(
            f"Prompt has {len(words)} words; the embedded shapes model takes at most {MAX_TOKENS - 1}."
        )

    def single(kind: str, found: Sequence[str], canonical: Sequence[str]) -> str | None:
        distinct = sorted(set(canonical))
        if len(distinct) > 1:
            raise PromptError(
                f"Prompt names {len(distinct)} {kind}s ({', '.join(found)}); the embedded model draws one shape "
                "with one colour, size and position."
            )
        return distinct[0] if distinct else None

    colours = [w for w in words if w in COLOURS]
    shapes = [w for w in words if w in SHAPES]
    sizes = [w for w in words if w in SIZE_WORDS]
    colour = single("colour", colours, colours)
    shape = single("shape", shapes, shapes)
    size = single("size", sizes, [SIZES[SIZE_WORDS[w]] for w in sizes])
    position = _parse_position(words)
    return ParsedPrompt(colour=colour, shape=shape, size=size, position=position)


def _parse_position(words: Sequence[str]) -> str | None:
    rows = {_ROW_WORDS[w] for w in words if w in _ROW_WORDS}
    columns = {_COLUMN_WORDS[w] for w in words if w in _COLUMN_WORDS}
    centre = any(w in _CENTRE_WORDS for w in words)
    if len(rows) > 1 or len(columns) > 1:
        raise PromptError(
            "Prompt names two positions; use one, such as 'at the top left' or 'in the center'."
        )
    if not rows and not columns:
        return POSITIONS[4] if centre else None
    row = rows.pop() if rows else 1
    column = columns.pop() if columns else 1
    return POSITIONS[3 * row + column]


def tokenize(prompt: str, vocab: Sequence[str]) -> list[int]:
    """Token ids of a prompt: the start token, then one id per word, unpadded.

    Args:
        prompt: A prompt that `parse_prompt` accepts.
        vocab: The token list saved with the text encoder (special tokens first).

    Raises:
        PromptError: If the prompt is not understood.
    """
    parse_prompt(prompt)
    index = {word: i for i, word in enumerate(vocab)}
    missing = [w for w in words_of(prompt) if w not in index]
    if missing:  # a checkpoint older than this grammar
        raise PromptError(f"The loaded text encoder does not know {', '.join(missing)}.")
    return [index[START_TOKEN], *(index[w] for w in words_of(prompt))]


def token_list() -> list[str]:
    """The token list to save with a freshly trained text encoder: special tokens, then words."""
    return [PAD_TOKEN, START_TOKEN, *vocabulary()]


def _article(next_word: str) -> str:
    return "an" if next_word[0] in "aeiou" else "a"


def position_phrases() -> Iterator[tuple[str, int]]:
    """Every way the training prompts say each position, with the position's index."""
    for index in range(len(POSITIONS)):
        row, column = divmod(index, 3)
        if (row, column) == (1, 1):
            heads = list(_CENTRE_WORDS)
        else:
            row_words = [w for w, r in _ROW_WORDS.items() if r == row] if row != 1 else [""]
            column_words = [w for w, c in _COLUMN_WORDS.items() if c == column] if column != 1 else [""]
            heads = [f"{r} {c}".strip() for r, c in itertools.product(row_words, column_words)]
        suffixes = [""]
        if row != 1 and column != 1:
            suffixes.append(" corner")
        elif (row, column) != (1, 1):
            suffixes.append(" side")
        for prefix, head, suffix in itertools.product(("at the", "in the", "on the"), heads, suffixes):
            yield f"{prefix} {head}{suffix}", index


def training_prompts() -> list[tuple[str, int, int, int, int]]:
    """All prompts the model is trained on, as (text, colour, shape, size or -1, position or -1).

    The canonical order is "[a] [size] colour shape [position phrase]"; -1 marks an attribute the prompt
    leaves free, which the training data then draws at random. Rows are in C order over the axes
    (colour, shape, size option, position option, article), with option 0 meaning "not named", so a
    sampler can stratify by axis.
    """
    sizes: list[tuple[str, int]] = [("", -1), *SIZE_WORDS.items()]
    positions: list[tuple[str, int]] = [("", -1), *position_phrases()]
    prompts = []
    for (c, colour), (s, shape) in itertools.product(enumerate(COLOURS), enumerate(SHAPES)):
        for (size_word, size), (phrase, position), article in itertools.product(
            sizes, positions, (True, False)
        ):
            body = f"{size_word} {colour} {shape}".strip()
            text = f"{_article(body)} {body}" if article else body
            prompts.append((f"{text} {phrase}".strip(), c, s, size, position))
    return prompts
