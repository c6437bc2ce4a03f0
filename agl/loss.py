"""The task loss of the recipe: cross-entropy on response tokens only (the prompt is context)."""

from __future__ import annotations


def response_loss(model, batch: dict, reduction: str = "mean"):
    """Next-token cross-entropy (nats) of the response tokens of a batch from :func:`collate`,
    computing logits only at the positions that predict a response token (transformers'
    ``logits_to_keep`` mask). The lm_head of a 150k-token vocabulary is about a quarter of a
    0.5B model's compute, and the prompts are most of the tokens; the value equals
    ``model(**batch).loss`` (``reduction="mean"``) up to float rounding.

    Returns:
        A scalar tensor: the mean over response tokens, or their sum with ``reduction="sum"``.
    """
    import torch

    labels = batch["labels"]
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != -100
    target = labels[:, 1:][keep[:, :-1]]
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep).logits
    if logits.dim() != 2 or logits.shape[0] != target.numel():  # an architecture without the mask: all positions
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1][keep[:, :-1]]
    return torch.nn.functional.cross_entropy(logits.float(), target, reduction=reduction)
