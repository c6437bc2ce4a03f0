"""Task quality of the explanation task: the letter parsed from an explanation, and accuracy."""

from __future__ import annotations

import pytest

from agl.data import whole_sentences
from agl.quality import accuracy, choices_of, parse_choice

PROMPT = "Which gas do plants take in?\n\nA. Oxygen\nB. Carbon dioxide\nC. Helium\nD. Neon\n\nExplain the answer."
CHOICES = ["Oxygen", "Carbon dioxide", "Helium", "Neon"]


def test_choices_of_reads_the_lettered_lines():
    assert choices_of(PROMPT) == CHOICES
    assert choices_of("no choices here") == ["", "", "", ""]


@pytest.mark.parametrize("text,letter", [
    ("The correct answer is B. Carbon dioxide. Plants take it in.", "B"),
    ("Sure! I'd be happy to help with that. The answer is (B) Carbon dioxide.", "B"),
    ("Answer: (C) helium is a noble gas", "C"),
    ("The answer is a gas that plants need: carbon dioxide.", "B"),  # "a" is an article, not a letter
    ("Plants take in carbon dioxide for photosynthesis.", "B"),   # the only choice named
    ("B) Carbon dioxide is used in photosynthesis.", "B"),        # the only option marker
    ("Oxygen or carbon dioxide, depending on the time of day.", None),  # two choices named
    ("A. Oxygen is wrong, B. Carbon dioxide is right.", None),     # two markers, no stated letter
    ("I cannot tell.", None),
])
def test_parse_choice(text: str, letter: str | None):
    assert parse_choice(text, CHOICES) == letter


def test_accuracy_counts_unparsed_as_wrong():
    texts = ["The answer is B.", "The answer is A.", "No idea.", "Carbon dioxide."]
    assert accuracy(texts, [PROMPT] * 4, ["B", "B", "B", "B"]) == 0.5
    with pytest.raises(ValueError, match="2 texts, 1 prompts"):
        accuracy(["a", "b"], [PROMPT], ["B", "B"])
    with pytest.raises(ValueError):
        accuracy([], [], [])


@pytest.mark.parametrize("text,expected", [
    ("First sentence. Second one is cut mid", "First sentence."),
    ("Is it? Yes! And then", "Is it? Yes!"),
    ("Complete sentence.", "Complete sentence."),
    ("  no sentence end at all  ", "no sentence end at all"),
    ("Version 2.5 is out. It adds", "Version 2.5 is out."),
    ("", ""),
])
def test_whole_sentences_drops_an_unfinished_tail(text: str, expected: str):
    assert whole_sentences(text) == expected
