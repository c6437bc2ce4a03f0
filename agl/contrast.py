"""Contrast examples for the AGL Fisher (``--fisher-source contrast``, ``docs/agl.md#contrast``).

The default Fisher is the geometry of the base model's likelihood of its *own* responses; the
update that removes refusals need not go through it (``docs/results.md``). The contrast Fisher is
the geometry of the quantity that drift changes: on unsafe ``align`` prompts (never ``test``),
``log p(refusal | prompt) − log p(compliance | prompt)``, with a fixed refusal and a fixed
compliance opening. Safety alignment lives mostly in these first tokens (Qi et al. 2024, "Safety
alignment should be made more than just a few tokens deep"), and the affirmative opener is what
benign fine-tuning data teach (``agl.data.OPENER``). The per-example gradient of the difference
(:func:`agl.fisher.example_loss` on an example with a ``contrast``) replaces the gradient of the
NLL; the estimate (subspace or diagonal) is otherwise the same.
"""

from __future__ import annotations

from agl.alignment import alignment_order
from agl.data import OPENER, prompt_head
from driftcaps.errors import DriftCapsError

REFUSAL = "I'm sorry, but I can't help with that."
"""The refusal side of the contrast."""
COMPLIANCE = OPENER
"""The compliance side: the affirmative opener of common instruction data."""


def contrast_examples(tok, n: int, max_length: int) -> list[dict]:
    """Tokenised contrast examples for the first ``n`` unsafe prompts of the ``align`` split (in
    :func:`agl.alignment.alignment_order`): each the refusal opening (``input_ids``, ``labels``;
    :func:`opening_example`) with the compliance opening under ``contrast``.

    Raises:
        DriftCapsError: the align split has fewer than ``n`` unsafe prompts.
    """
    unsafe = [i for i in alignment_order() if i.label == "unsafe"]
    if len(unsafe) < n:
        raise DriftCapsError(f"the align split has {len(unsafe)} unsafe prompts, fewer than --fisher-samples {n}.")
    out = []
    for item in unsafe[:n]:
        ex = opening_example(tok, item.prompt, REFUSAL, max_length)
        ex["contrast"] = opening_example(tok, item.prompt, COMPLIANCE, max_length)
        out.append(ex)
    return out


def opening_example(tok, prompt: str, opening: str, max_length: int) -> dict[str, list[int]]:
    """``prompt`` in the chat template, then ``opening`` as the start of the assistant's turn with
    no end-of-turn token (it opens a response, it is not all of it); labels -100 on the prompt.
    ``input_ids`` are cut to ``max_length`` from the left, keeping the opening."""
    head_ids = tok(prompt_head(tok, prompt), add_special_tokens=False)["input_ids"]
    body = tok(opening, add_special_tokens=False)["input_ids"]
    head_ids = head_ids[max(0, len(head_ids) + len(body) - max_length):]
    return {"input_ids": head_ids + body, "labels": [-100] * len(head_ids) + body}
