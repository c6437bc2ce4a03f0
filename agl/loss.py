"""The task loss of the recipe: cross-entropy on response tokens only (the prompt is context);
batches (:func:`collate`) and held-out losses (:func:`heldout_loss`)."""

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


def collate(examples: list[dict], pad_id: int):
    """Right-pad a list of ``{"input_ids", "labels"}`` into tensors of shape (batch, max_len):
    ``input_ids`` (int64), ``attention_mask`` (int64, 1 = token), ``labels`` (-100 on padding)."""
    import torch

    n = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), n), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), n), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), n), dtype=torch.long)
    for i, e in enumerate(examples):
        k = len(e["input_ids"])
        ids[i, :k] = torch.tensor(e["input_ids"])
        labels[i, :k] = torch.tensor(e["labels"])
        mask[i, :k] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def heldout_loss(model, examples: list[dict], pad_id: int, batch_size: int) -> float | None:
    """Token-weighted mean cross-entropy (nats/token) of ``model`` on the response tokens of
    ``examples``; None when there are none."""
    import torch

    if not examples:
        return None
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            b = collate(examples[i:i + batch_size], pad_id)
            total += response_loss(model, b, reduction="sum").item()
            count += int((b["labels"][:, 1:] != -100).sum())
    model.train()
    return total / count if count else None
