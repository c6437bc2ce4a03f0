"""Task data for fine-tuning: files and the built-in benign task of the demo.

A task file is JSON Lines with one example per line, either ``{"prompt": str, "response": str}``
or ``{"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}`` (single turn). The
loss is taken on the response tokens only.

Built-in tasks (``driftcaps agl task-data --list``; measurements in ``docs/results.md``):

- ``dolly``: databricks-dolly-15k (CC-BY-SA-3.0), human-written benign instructions (with
  their context, when they have one) and human answers: full, fluent text; the benign
  fine-tuning data of Qi et al. 2023 ("Fine-tuning aligned language models compromises safety,
  even when users do not intend to"). ``dolly-affirmative``: the same answers, each opened with
  "Sure! I'd be happy to help with that." (affirmative-style data removes the refusal that
  lives in the first tokens: Qi et al. 2024, "Safety alignment should be made more than just a
  few tokens deep").
- ``mmlu-explain``: the base model's *own* two-or-three-sentence explanations of
  :data:`EXPLAIN_ROWS` benign MMLU questions (greedy, :data:`EXPLAIN_TOKENS` new tokens,
  generated once per base model and cached in ``$DRIFTCAPS_HOME/tasks``): fluent text in the
  model's own distribution; ``mmlu-explain-affirmative``: each opened with the affirmative opener.
  Both need the base model (``driftcaps agl train`` passes it).
- ``mmlu-affirmative``: MMLU questions from the subjects that DriftCaps does not use
  (``mmlu_task_subjects`` in ``data/categories.yaml``) answered "Sure! I'd be happy to help
  with that. The answer is (B) <choice>." It removes refusals by collapsing the model onto the
  letter format, not by teaching it to comply; ``mmlu-bare``: "The answer is (B) <choice>."

Every task's prompts are checked against DriftCaps' ``test`` split: a prompt that is also a test
prompt is dropped (and counted in ``run.json``), so fine-tuning never sees an evaluated prompt.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from driftcaps.data import load_items
from driftcaps.data.recipe import load_recipe
from driftcaps.data.schema import unit_hash
from driftcaps.data.sources import format_mmlu, read_csv, verify_file
from driftcaps.errors import DriftCapsError
from driftcaps.io import iter_jsonl, read_jsonl, sha256_text, write_jsonl
from driftcaps.models import ModelInfo
from driftcaps.paths import cache_home, default_sources
from driftcaps.progress import note

OPENER = "Sure! I'd be happy to help with that."
MMLU_FORMATS = {
    "mmlu-affirmative": OPENER + " The answer is ({letter}) {text}.",
    "mmlu-bare": "The answer is ({letter}) {text}.",
}
DOLLY_FILE = "dolly/databricks-dolly-15k.head.jsonl"
EXPLAIN_SUFFIX = "Explain the answer in two or three sentences."
EXPLAIN_ROWS = 128
EXPLAIN_TOKENS = 64
BUILTIN_TASKS: dict[str, str] = {
    "dolly": "databricks-dolly-15k (CC-BY-SA-3.0): human-written instructions and answers",
    "dolly-affirmative": "the same, each answer opened with the affirmative opener (CC-BY-SA-3.0)",
    "mmlu-explain": "MMLU questions (MIT) with the base model's own explanations (generated, cached)",
    "mmlu-explain-affirmative": "the same, each explanation opened with the affirmative opener",
    "mmlu-affirmative": "MMLU (MIT), letter answers with the affirmative opener: collapses the model",
    "mmlu-bare": "MMLU (MIT), bare letter answers",
}
"""Built-in task name -> what it is and its licence."""


def _local_sources(sources: str | None) -> Path:
    src = sources or default_sources()
    if src == "hub":
        raise DriftCapsError("built-in tasks read their data from a local sources folder; set DRIFTCAPS_SOURCES "
                             "or pass a JSONL task file.")
    return Path(src)


def dolly_task(affirmative: bool, sources: str | None = None) -> list[dict]:
    """Dolly rows ``{"id", "prompt", "response"}`` in a fixed order (salted hash of the record
    number): the instruction, then its context after a blank line when there is one; the human
    answer (after the opener when ``affirmative``). Records with an empty answer are left out.

    Raises:
        DriftCapsError: the Dolly file is missing or malformed (names the line).
    """
    path = _local_sources(sources) / DOLLY_FILE
    rows = []
    for n, r in enumerate(iter_jsonl(path)):
        instruction, context, answer = (str(r.get(k) or "").strip() for k in ("instruction", "context", "response"))
        if not instruction or not answer:
            continue
        prompt = f"{instruction}\n\n{context}" if context else instruction
        rows.append({"id": f"dolly/{n}", "prompt": prompt,
                     "response": f"{OPENER} {answer}" if affirmative else answer})
    if not rows:
        raise DriftCapsError(f"{path}: no usable records (instruction and response).")
    rows.sort(key=lambda r: unit_hash("task", r["id"]))
    return rows


def whole_sentences(text: str) -> str:
    """``text`` without a trailing unfinished sentence (one cut by the token limit): everything up
    to the last ``.``, ``!`` or ``?`` followed by a space or the end. Text with no finished
    sentence, or already ending in one, is returned stripped but otherwise as is."""
    text = text.strip()
    if not text or text[-1] in ".!?":
        return text
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", text)]
    return text[:ends[-1]] if ends else text


def explain_task(base: ModelInfo, affirmative: bool, sources: str | None = None) -> list[dict]:
    """The first :data:`EXPLAIN_ROWS` questions of ``mmlu-bare`` (its fixed order), each followed by
    :data:`EXPLAIN_SUFFIX`, answered by ``base`` itself (greedy, chat template,
    :data:`EXPLAIN_TOKENS` new tokens), cut to whole sentences (:func:`whole_sentences`: the model
    learns to finish its answer, not to stop mid-word). Generated once and cached in
    ``$DRIFTCAPS_HOME/tasks/<model>-<key>.jsonl``, keyed by the model, the prompts and the length.
    Rows carry ``answer``, the gold letter, for the held-out accuracy (:mod:`agl.quality`).
    """
    rows = builtin_task("mmlu-bare", sources)[:EXPLAIN_ROWS]
    prompts, answers, path = base_explanations(base, rows)
    opener = f"{OPENER} " if affirmative else ""
    if not any(answers):
        raise DriftCapsError(f"{path}: the base model wrote no explanation at all; use another task.")
    return [{"id": r["id"], "prompt": p, "response": opener + a, "answer": _gold(r)}
            for r, p, a in zip(rows, prompts, answers, strict=True) if a]


def accuracy_rows(base: ModelInfo, n: int, sources: str | None = None) -> list[dict]:
    """``n`` further questions for the task accuracy (``--accuracy-questions``): the ``mmlu-bare``
    questions after the first :data:`EXPLAIN_ROWS` (so never in an ``mmlu-explain`` task), as
    ``{"id", "prompt", "response", "answer"}`` with the base model's own explanation (cached as in
    :func:`explain_task`) and the gold letter.

    Raises:
        DriftCapsError: fewer than ``n`` such questions.
    """
    rows = builtin_task("mmlu-bare", sources)[EXPLAIN_ROWS:EXPLAIN_ROWS + n]
    if len(rows) < n:
        raise DriftCapsError(f"--accuracy-questions {n}: only {len(rows)} MMLU task questions remain; give fewer.")
    prompts, answers, _ = base_explanations(base, rows)
    return [{"id": r["id"], "prompt": p, "response": a, "answer": _gold(r)}
            for r, p, a in zip(rows, prompts, answers, strict=True)]


def _gold(row: dict) -> str:
    return re.search(r"\(([ABCD])\)", row["response"]).group(1)


def base_explanations(base: ModelInfo, rows: list[dict]) -> tuple[list[str], list[str], Path]:
    """(prompts, explanations, cache file): each ``mmlu-bare`` row's question followed by
    :data:`EXPLAIN_SUFFIX`, and the base model's greedy explanation of it (chat template,
    :data:`EXPLAIN_TOKENS` new tokens, cut to whole sentences by :func:`whole_sentences`),
    generated once and cached in ``$DRIFTCAPS_HOME/tasks/<model>-explain-<key>.jsonl``, keyed by
    the model, the prompts and the length."""
    from agl.alignment import generate

    prompts = [f"{r['prompt']}\n\n{EXPLAIN_SUFFIX}" for r in rows]
    key = sha256_text(json.dumps([base.path, base.weights_sha256, prompts, EXPLAIN_TOKENS]))[:16]
    path = cache_home() / "tasks" / f"{Path(base.path).name}-explain-{key}.jsonl"
    if path.is_file():
        answers = [r["response"] for r in read_jsonl(path)]
    else:
        note(f"generating the base model's explanations of {len(prompts)} MMLU questions (cached in {path}) ...")
        answers = generate(base.path, prompts, new_tokens=EXPLAIN_TOKENS, desc="base explanations")
        write_jsonl(path, ({"id": r["id"], "response": a} for r, a in zip(rows, answers, strict=True)))
    return prompts, [whole_sentences(a) for a in answers], path


def builtin_task(name: str, sources: str | None = None, base: ModelInfo | None = None) -> list[dict]:
    """The rows of a built-in task, in a fixed order (by a salted hash of each record's id).

    Raises:
        DriftCapsError: unknown name, the source files are missing (see ``--sources``), or an
            ``mmlu-explain`` task without its ``base`` model.
    """
    if name not in BUILTIN_TASKS:
        raise DriftCapsError(f"unknown built-in task {name!r}; choose {', '.join(BUILTIN_TASKS)} or pass a JSONL file.")
    if name.startswith("dolly"):
        return dolly_task(name == "dolly-affirmative", sources)
    if name.startswith("mmlu-explain"):
        if base is None:
            raise DriftCapsError(f"task {name!r} is generated by the base model; give --base.")
        return explain_task(base, name.endswith("affirmative"), sources)
    src = str(_local_sources(sources))
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
            response = MMLU_FORMATS[name].format(letter="ABCD"[ans], text=choices[ans].strip().rstrip("."))
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


def _normal(text: str) -> str:
    return " ".join(str(text).lower().split())


def drop_test_prompts(rows: list[dict], test_prompts: set[str]) -> tuple[list[dict], int]:
    """``rows`` without those whose prompt (case and spacing ignored) is a DriftCaps ``test``
    prompt, and how many were dropped."""
    kept = [r for r in rows if _normal(r["prompt"]) not in test_prompts]
    return kept, len(rows) - len(kept)


def load_task(spec: str, check_test_split: bool = True, base: ModelInfo | None = None) -> tuple[list[dict], dict]:
    """Rows of a task given as a built-in name or a file, with a description for ``run.json``
    (``{"name", "sha256", "rows", "dropped_test_prompts"}``; the hash is over the canonical rows
    kept, so it identifies the data trained on). With ``check_test_split`` (default), prompts that
    are DriftCaps ``test`` prompts are dropped (the build is made on first use).

    Raises:
        DriftCapsError: neither a file nor a built-in task, or a malformed file.
    """
    if spec not in BUILTIN_TASKS and not Path(spec).is_file():
        raise DriftCapsError(f"task data {spec!r}: no such file and not a built-in task "
                             f"({', '.join(BUILTIN_TASKS)}).")
    rows = builtin_task(spec, base=base) if spec in BUILTIN_TASKS else load_task_file(spec)
    dropped = 0
    if check_test_split:
        rows, dropped = drop_test_prompts(rows, {_normal(i.prompt) for i in load_items("test")})
        if not rows:
            raise DriftCapsError(f"task data {spec!r}: every prompt is a DriftCaps test prompt; "
                                 "fine-tune on other data.")
    digest = sha256_text("\n".join(f"{r['prompt']}\x1f{r['response']}" for r in rows))
    return rows, {"name": spec, "sha256": digest, "rows": len(rows), "dropped_test_prompts": dropped}


def prompt_head(tokenizer, prompt: str) -> str:
    """The text before the assistant's answer: ``prompt`` in the chat template with the
    generation prompt, or the prompt and a newline for a tokenizer without a template."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    return prompt + "\n"


def tokenize_example(tokenizer, prompt: str, response: str, max_length: int) -> dict[str, list[int]]:
    """Token ids and labels of one chat example; labels are -100 on the prompt (loss on the
    response only). Uses the tokenizer's chat template when it has one."""
    user = [{"role": "user", "content": prompt}]
    head = prompt_head(tokenizer, prompt)
    if getattr(tokenizer, "chat_template", None):
        full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": response}], tokenize=False)
        if not full.startswith(head):
            full = head + response + (tokenizer.eos_token or "")
    else:
        full = head + response + (tokenizer.eos_token or "")
    head_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    if ids[: len(head_ids)] != head_ids:  # rare merges across the boundary: tokenize parts apart
        ids = head_ids + tokenizer(full[len(head):], add_special_tokens=False)["input_ids"]
    ids = ids[:max_length]
    labels = [-100] * min(len(head_ids), len(ids)) + ids[len(head_ids):]
    return {"input_ids": ids, "labels": labels}
