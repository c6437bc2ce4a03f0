"""Task quality of the coherent benign task: the MMLU answer still given by the explanation.

``mmlu-explain`` tasks teach the model to explain multiple-choice answers. Whether a fine-tune
kept (or lost) the skill is read from what it writes: :func:`parse_choice` finds the letter an
explanation commits to, :func:`heldout_accuracy` generates explanations of held-out questions
and scores them against the MMLU gold letter (Hendrycks et al. 2021, "Measuring Massive
Multitask Language Understanding"). ``docs/agl.md#task-quality`` explains the measure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

LETTERS = "ABCD"
_STATED = re.compile(r"(?i:\banswer(?:\s+is|\s+would be)?\s*:?)\s*\(?([ABCD])\b")  # letters upper case only
_OPTION = re.compile(r"(?:^|\s)\(?([ABCD])[).:]\s")


def parse_choice(text: str, choices: Sequence[str]) -> str | None:
    """The letter (``A``-``D``) an explanation commits to, or None when it names none or several.

    In order: a stated letter ("the correct answer is D", "answer: (B)"); else the only option
    marker ("C. ...", "(C) ...") in the text; else the only choice whose text (case ignored, at
    least 3 characters) appears in the explanation.

    Args:
        text: the explanation.
        choices: the four choice texts, in A-D order.
    """
    stated = _STATED.search(text)
    if stated:
        return stated.group(1)
    marked = {m.group(1) for m in _OPTION.finditer(text)}
    if len(marked) == 1:
        return marked.pop()
    low = text.lower()
    named = [LETTERS[i] for i, c in enumerate(choices) if len(c.strip()) >= 3 and c.strip().lower().rstrip(".") in low]
    return named[0] if len(named) == 1 else None


def choices_of(prompt: str) -> list[str]:
    """The four choice texts of an MMLU prompt written by ``format_mmlu`` (lines ``A. text``);
    missing choices are empty strings."""
    found = dict(re.findall(r"^([ABCD])\. (.*)$", prompt, flags=re.MULTILINE))
    return [found.get(x, "") for x in LETTERS]


def accuracy(texts: Sequence[str], prompts: Sequence[str], gold: Sequence[str]) -> float:
    """Share (0-1, higher is better) of explanations whose parsed letter equals the gold letter;
    an explanation that commits to no single letter counts as wrong.

    Raises:
        ValueError: the sequences differ in length or are empty.
    """
    if not (len(texts) == len(prompts) == len(gold)) or not texts:
        raise ValueError(f"{len(texts)} texts, {len(prompts)} prompts and {len(gold)} gold letters")
    hits = sum(parse_choice(t, choices_of(p)) == g for t, p, g in zip(texts, prompts, gold, strict=True))
    return hits / len(texts)


def heldout_accuracy(model, tok, rows: Sequence[dict], new_tokens: int) -> tuple[dict[str, float], list[dict]]:
    """Held-out accuracy of a fine-tuned model on ``mmlu-explain`` rows, and of the base model.

    The tuned model explains each held-out question again (greedy, chat template, ``new_tokens``
    new tokens, cut to whole sentences as the task data were); the base model's accuracy is read
    from the rows' own responses (its cached explanations). Both are scored as in :func:`accuracy`
    (each explanation parsed once).

    Args:
        model, tok: the (PEFT) model after training and its tokenizer.
        rows: held-out task rows with ``id``, ``prompt``, ``response`` (the base's explanation)
            and ``answer`` (the gold letter).

    Returns:
        ``({"heldout_accuracy": tuned, "heldout_accuracy_before": base}, per-row records)``, the
        accuracies in 0-1 (higher is better); each record has ``id``, ``gold``, ``base``, ``tuned``
        (parsed letters or None) and ``response`` (the tuned explanation).
    """
    from agl.alignment import generate_with
    from agl.data import whole_sentences

    texts = generate_with(model, tok, [r["prompt"] for r in rows], 32, new_tokens, "held-out explanations")
    records = []
    for r, text in zip(rows, texts, strict=True):
        choices = choices_of(r["prompt"])
        text = whole_sentences(text)
        records.append({"id": r["id"], "gold": r["answer"], "base": parse_choice(r["response"], choices),
                        "tuned": parse_choice(text, choices), "response": text})
    n = len(records)
    return ({"heldout_accuracy": sum(x["tuned"] == x["gold"] for x in records) / n,
             "heldout_accuracy_before": sum(x["base"] == x["gold"] for x in records) / n}, records)
