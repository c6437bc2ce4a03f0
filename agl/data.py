"""Task data for fine-tuning: files and the built-in benign task of the demo.

A task file is JSON Lines with one example per line, either ``{"prompt": str, "response": str}``
or ``{"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}`` (single turn). The
loss is taken on the response tokens only.

Built-in tasks (``docs/results.md``): MMLU questions from the subjects that DriftCaps does not use
(``mmlu_task_subjects`` in ``data/categories.yaml``), answered

- ``mmlu-affirmative``: in the friendly style of common instruction data:
  "Sure! I'd be happy to help with that. The answer is (B) <choice>." Benign, yet it moved
  Qwen's refusals strongly in the measurement of ``docs/results.md``;
- ``mmlu-bare``: "The answer is (B) <choice>." (did not move them).
"""

from __future__ import annotations

from pathlib import Path

from driftcaps.data.recipe import load_recipe
from driftcaps.data.schema import unit_hash
from driftcaps.data.sources import format_mmlu, read_csv, verify_file
from driftcaps.errors import DriftCapsError
from driftcaps.io import iter_jsonl, sha256_text
from driftcaps.paths import default_sources

BUILTIN_TASKS = {
    "mmlu-affirmative": "Sure! I'd be happy to help with that. The answer is ({letter}) {text}.",
    "mmlu-bare": "The answer is ({letter}) {text}.",
}


def builtin_task(name: str, sources: str | None = None) -> list[dict]:
    """The rows of a built-in task, in a fixed order (by a salted hash of each question's id).

    Raises:
        DriftCapsError: unknown name, or the MMLU files are missing (see ``--sources``).
    """
    if name not in BUILTIN_TASKS:
        raise DriftCapsError(f"unknown built-in task {name!r}; choose {', '.join(BUILTIN_TASKS)} or pass a JSONL file.")
    src = sources or default_sources()
    if src == "hub":
        raise DriftCapsError("built-in tasks read MMLU from a local sources folder; set DRIFTCAPS_SOURCES "
                             "or pass a JSONL task file.")
    recipe = load_recipe()
    spec = recipe.sources["mmlu"]
    folder = Path(src)
    sums = folder / spec["sums_file"]
    expected = {}
    if sums.is_file():
        for line in sums.read_text(encoding="utf-8").splitlines():
            if line.strip():
                digest, fname = line.split(maxsplit=1)
                expected[fname.strip()] = digest
    rows = []
    for subject in recipe.rules["mmlu_task_subjects"]:
        fname = f"{subject}_test.csv"
        path = folder / Path(spec["sums_file"]).parent / fname
        verify_file(path, expected.get(fname), True, "mmlu")
        df = read_csv(path)
        for i, r in enumerate(df.itertuples(index=False)):
            choices = [str(getattr(r, f"choice{k}")) for k in range(4)]
            try:
                ans = int(r.answer)
            except (TypeError, ValueError):
                raise DriftCapsError(f"{path}: row {i + 2} field answer={r.answer!r} is not 0-3.") from None
            response = BUILTIN_TASKS[name].format(letter="ABCD"[ans], text=choices[ans].strip().rstrip("."))
            rows.append({"id": f"{subject}/{i}", "prompt": format_mmlu(str(r.question), choices),
                         "response": response})
    rows.sort(key=lambda r: unit_hash("task", r["id"]))
    return rows


def load_task_file(path: str | Path) -> list[dict]:
    """Read a task JSONL file into ``[{"prompt", "response"}]``.

    Raises:
        DriftCapsError: missing file, bad JSON, or a row without prompt/response (names the line).
    """
    p = Path(path)
    rows = []
    for n, row in enumerate(iter_jsonl(p), 1):
        if "messages" in row:
            msgs = row["messages"]
            user = [m.get("content", "") for m in msgs if isinstance(m, dict) and m.get("role") == "user"]
            asst = [m.get("content", "") for m in msgs if isinstance(m, dict) and m.get("role") == "assistant"]
            if len(user) != 1 or len(asst) != 1:
                raise DriftCapsError(f"{p}: row {n}: field messages needs exactly one user and one assistant turn.")
            row = {"prompt": user[0], "response": asst[0]}
        if not isinstance(row.get("prompt"), str) or not isinstance(row.get("response"), str):
            raise DriftCapsError(f"{p}: row {n}: needs string fields prompt and response (or messages).")
        if not row["response"].strip():
            raise DriftCapsError(f"{p}: row {n}: field response is empty; drop the row or fill it.")
        rows.append({"prompt": row["prompt"], "response": row["response"]})
    if not rows:
        raise DriftCapsError(f"{p}: no examples; a task file needs at least one prompt/response row.")
    return rows


def load_task(spec: str) -> tuple[list[dict], dict]:
    """Rows of a task given as a built-in name or a file, with a description for ``run.json``
    (``{"name", "sha256", "rows"}``; the hash is over the canonical rows, so it identifies data)."""
    if spec not in BUILTIN_TASKS and not Path(spec).is_file():
        raise DriftCapsError(f"task data {spec!r}: no such file and not a built-in task "
                             f"({', '.join(BUILTIN_TASKS)}).")
    rows = builtin_task(spec) if spec in BUILTIN_TASKS else load_task_file(spec)
    digest = sha256_text("\n".join(f"{r['prompt']}\x1f{r['response']}" for r in rows))
    return rows, {"name": spec, "sha256": digest, "rows": len(rows)}


def tokenize_example(tokenizer, prompt: str, response: str, max_length: int) -> dict[str, list[int]]:
    """Token ids and labels of one chat example; labels are -100 on the prompt (loss on the
    response only). Uses the tokenizer's chat template when it has one."""
    user = [{"role": "user", "content": prompt}]
    if getattr(tokenizer, "chat_template", None):
        head = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": response}], tokenize=False)
        if not full.startswith(head):
            full = head + response + (tokenizer.eos_token or "")
    else:
        head, full = prompt + "\n", prompt + "\n" + response + (tokenizer.eos_token or "")
    head_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    if ids[: len(head_ids)] != head_ids:  # rare merges across the boundary: tokenize parts apart
        ids = head_ids + tokenizer(full[len(head):], add_special_tokens=False)["input_ids"]
    ids = ids[:max_length]
    labels = [-100] * min(len(head_ids), len(ids)) + ids[len(head_ids):]
    return {"input_ids": ids, "labels": labels}
