"""Checks of a submission's logged lm-eval samples against what its report claims
(``docs/leaderboard.md#verification``, step 4): the model saw exactly the DriftCaps prompt under
the recorded chat template (no system prompt or text added), with the recorded generation
settings; one sample per prompt; the logged response is lm-eval's unfiltered response.

The chat template is rendered the way transformers renders it (``render_jinja_template``), from
the template text lm-eval stored in its results file, whose sha256 must be the report's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftcaps.errors import DriftCapsError
from driftcaps.io import iter_jsonl, read_json, sha256_text


class Rejected(DriftCapsError):
    """A submission the board refuses; the message is the one-line reason."""


class SampleError(Rejected):
    """A logged sample that does not match its report (the message names file, line and field)."""


def lm_eval_results(folder: Path, name: str | None, report_sha: str | None, apply_chat_template: bool) -> dict:
    """lm-eval's results file named by the report, checked: present, and holding the chat template
    whose sha256 the report records.

    Raises:
        SampleError: missing file or another chat template.
    """
    if not name or Path(name).name != name:
        raise SampleError(f"{folder / 'report.json'}: provenance.lm_eval_results {name!r} is not a plain file name.")
    path = folder / name
    if not path.is_file():
        raise SampleError(f"{path}: lm-eval's results file (named by report.json) is missing; submit the whole folder.")
    results = read_json(path, "lm-eval results")
    if not isinstance(results, dict):
        raise SampleError(f"{path}: not lm-eval's results file (expected a JSON object).")
    if apply_chat_template:
        template = results.get("chat_template")
        if not isinstance(template, str) or sha256_text(template) != report_sha:
            raise SampleError(f"{path}: its chat_template is not the one whose sha256 report.json records.")
    return results


def render_prompt(prompt: str, results: dict, apply_chat_template: bool) -> str:
    """The model input lm-eval builds for one DriftCaps prompt: the prompt itself, or the chat
    (lm-eval's system instruction if any, then the user turn) rendered with the template."""
    if not apply_chat_template:
        return prompt
    from transformers.utils.chat_template_utils import render_jinja_template

    chat = ([{"role": "system", "content": results["system_instruction"]}] if results.get("system_instruction") else [])
    chat.append({"role": "user", "content": prompt})
    special = {k: results.get(f"tokenizer_{k}") for k in ("bos_token", "eos_token", "pad_token")}
    out, _ = render_jinja_template([chat], chat_template=results["chat_template"], add_generation_prompt=True,
                                   **{k: (v[0] if isinstance(v, list) and v else v) for k, v in special.items() if v})
    return out[0]


def check_samples(path: Path, task: str, gen_kwargs: dict[str, Any], results: dict, apply_chat_template: bool) -> None:
    """Every line of one samples file: one sample per prompt id, model input = the rendered
    DriftCaps prompt, generation arguments = the report's ``gen_kwargs`` of ``task``, and the
    filtered response = the raw one (DriftCaps tasks use lm-eval's ``none`` filter).

    Raises:
        SampleError: the first line that differs (file, line, field).
    """
    seen: set[str] = set()
    rendered: dict[str, str] = {}
    for n, s in enumerate(iter_jsonl(path), 1):
        doc = s.get("doc") or {}
        i, prompt = doc.get("id"), doc.get("prompt")
        if not isinstance(i, str) or not isinstance(prompt, str):
            raise SampleError(f"{path}:{n}: the sample's doc has no DriftCaps id and prompt.")
        if i in seen:
            raise SampleError(f"{path}:{n}: prompt {i} is logged twice; submit the samples as lm-eval wrote them.")
        seen.add(i)
        args = (s.get("arguments") or {}).get("gen_args_0") or {}
        if args.get("arg_1") != gen_kwargs:
            raise SampleError(f"{path}:{n}: generation arguments {args.get('arg_1')} differ from the report's "
                              f"gen_kwargs of {task} ({gen_kwargs}).")
        if prompt not in rendered:
            try:
                rendered[prompt] = render_prompt(prompt, results, apply_chat_template)
            except Exception as e:  # a template that does not render here cannot be checked  # noqa: BLE001
                raise SampleError(f"{path}:{n}: the recorded chat template does not render ({type(e).__name__}: "
                                  f"{str(e)[:80]}); the board cannot check the prompts.") from None
        if args.get("arg_0") != rendered[prompt]:
            raise SampleError(f"{path}:{n}: the model input of prompt {i} is not the DriftCaps prompt under the "
                              "recorded chat template (text or a system prompt added, or another template).")
        if s.get("resps") is not None and s.get("filtered_resps") is not None:
            raw, filtered = s["resps"], s["filtered_resps"]
            while isinstance(raw, list) and raw and isinstance(raw[0], list):
                raw = raw[0]
            if raw != filtered and [raw] != filtered:
                raise SampleError(f"{path}:{n}: filtered_resps differ from resps for prompt {i}.")
