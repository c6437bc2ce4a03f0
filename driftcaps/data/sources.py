"""Read the public sources into raw items, from a local folder or from the Hugging Face Hub.

Each reader turns one source's rows into :class:`RawItem` records with the source's own label
kept (``raw_label``) and the DriftCaps category decided by the recipe (or None: unplaced).
Local files are checked against the sha256 in ``data/sources.yaml`` before they are read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from driftcaps.data import recipe as rc
from driftcaps.errors import DriftCapsError
from driftcaps.io import cell_text, read_jsonl, sha256_file

MODERATION_KEYS = ("S", "H", "V", "HR", "SH", "S3", "H2", "V2")


@dataclass(frozen=True)
class RawItem:
    """A source row before ids, splits and licences are attached.

    ``category`` None means the recipe could not place the item (reported, not built).
    """

    source: str
    source_id: str
    prompt: str
    label: str
    category: str | None
    raw_label: str
    subset: str
    pair_id: str | None = None


def _require(df: pd.DataFrame, cols: list[str], where: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DriftCapsError(f"{where}: missing column(s) {missing}; expected columns {cols} "
                             "(restore the original file or check the source).")


# --- per-source readers: frames in, raw items out -------------------------------------------

def advbench(df: pd.DataFrame, rules: dict, where: str) -> list[RawItem]:
    """AdvBench harmful behaviours (``goal``); categories by the recipe's keyword rules."""
    _require(df, ["goal"], where)
    out = []
    for i, goal in enumerate(df["goal"].map(cell_text)):
        out.append(RawItem("advbench", f"row{i}", goal, "unsafe", rc.map_advbench(rules, goal),
                           "keyword-rules", "core"))
    return out


def harmbench(df: pd.DataFrame, rules: dict, where: str) -> list[RawItem]:
    """HarmBench standard and contextual behaviours; contextual ones are sent with their context
    first, as HarmBench does (``context`` + ``\\n\\n---\\n\\n`` + behaviour)."""
    _require(df, ["Behavior", "FunctionalCategory", "SemanticCategory", "ContextString", "BehaviorID"], where)
    out = []
    for row in df.itertuples(index=False):
        if row.FunctionalCategory not in rules["harmbench_functional"]:
            continue
        ctx = cell_text(row.ContextString).strip()
        prompt = f"{ctx}\n\n---\n\n{row.Behavior}" if ctx else cell_text(row.Behavior)
        out.append(RawItem("harmbench", cell_text(row.BehaviorID), prompt, "unsafe",
                           rc.map_table(rules, "harmbench", row.SemanticCategory),
                           cell_text(row.SemanticCategory), "core"))
    return out


def jbb(harmful: pd.DataFrame, benign: pd.DataFrame, rules: dict, where: str) -> list[RawItem]:
    """JBB-Behaviors: harmful behaviours (unsafe, core) and their benign twins (safe,
    borderline), paired by ``index``."""
    out = []
    for kind, df in (("harmful", harmful), ("benign", benign)):
        _require(df, ["index", "goal", "category"], f"{where} ({kind})")
        for row in df.itertuples(index=False):
            idx = cell_text(row.index)
            if kind == "harmful":
                out.append(RawItem("jbb", f"harmful/{idx}", cell_text(row.goal), "unsafe",
                                   rc.map_table(rules, "jbb", row.category), cell_text(row.category),
                                   "core", f"jbb:{idx}"))
            else:
                out.append(RawItem("jbb", f"benign/{idx}", cell_text(row.goal), "safe", cell_text(row.category),
                                   cell_text(row.category), "borderline", f"jbb:{idx}"))
    return out


def _xstest_group(t: str) -> str:
    t = t.removeprefix("contrast_")
    if t.startswith("privacy"):
        return "privacy"
    if t.endswith("discr"):
        return "discr"
    return t


def xstest(df: pd.DataFrame, rules: dict, where: str) -> list[RawItem]:
    """XSTest: 250 safe over-refusal probes (``borderline``) and 200 unsafe contrasts (``core``).
    ``pair_id`` is the prompt's type group and its position within its type (XSTest writes the
    n-th contrast prompt as the twin of the n-th safe prompt of the same type)."""
    _require(df, ["id", "prompt", "type", "label"], where)
    out, rank = [], {}
    for row in df.itertuples(index=False):
        t = cell_text(row.type)
        rank[t] = rank.get(t, 0) + 1
        pair = f"xstest:{_xstest_group(t)}:{rank[t]}"
        if row.label == "unsafe":
            out.append(RawItem("xstest", cell_text(row.id), cell_text(row.prompt), "unsafe",
                               rc.map_table(rules, "xstest", t), t, "core", pair))
        elif row.label == "safe":
            out.append(RawItem("xstest", cell_text(row.id), cell_text(row.prompt), "safe", t, t, "borderline", pair))
        else:
            out.append(RawItem("xstest", cell_text(row.id), cell_text(row.prompt), "unknown", None,
                               f"label={row.label}", "core"))
    return out


def hatecheck(df: pd.DataFrame, rules: dict, where: str) -> list[RawItem]:
    """HateCheck functional tests as statements: hateful cases unsafe, non-hateful ones safe
    (category: the HateCheck functionality)."""
    _require(df, ["case_id", "test_case", "label_gold", "functionality"], where)
    out = []
    for row in df.itertuples(index=False):
        text, gold = cell_text(row.test_case).strip(), cell_text(row.label_gold)
        if gold == "non-hateful":
            out.append(RawItem("hatecheck", cell_text(row.case_id), text, "safe", cell_text(row.functionality),
                               gold, "statements"))
        else:
            out.append(RawItem("hatecheck", cell_text(row.case_id), text, "unsafe",
                               rc.map_table(rules, "hatecheck", gold), gold, "statements"))
    return out


def openai_moderation(rows: list[dict], rules: dict, where: str) -> list[RawItem]:
    """OpenAI moderation samples as statements: flagged ones unsafe (category by label priority),
    fully labelled all-zero ones safe; partially labelled unflagged ones unplaced."""
    out = []
    for i, row in enumerate(rows):
        if "prompt" not in row:
            raise DriftCapsError(f"{where}: record {i + 1} has no field 'prompt'.")
        labels = {k: row.get(k) for k in MODERATION_KEYS if row.get(k) is not None and not pd.isna(row.get(k))}
        cat = rc.map_moderation(rules, labels)
        raw = ",".join(sorted(k for k, v in labels.items() if v == 1)) or "none"
        if cat is not None:
            out.append(RawItem("openai_moderation", f"row{i}", cell_text(row["prompt"]), "unsafe", cat, raw, "statements"))
        elif len(labels) == len(MODERATION_KEYS):
            out.append(RawItem("openai_moderation", f"row{i}", cell_text(row["prompt"]), "safe", "unflagged",
                               raw, "statements"))
        else:
            out.append(RawItem("openai_moderation", f"row{i}", cell_text(row["prompt"]), "unknown", None,
                               "partially labelled, none positive", "statements"))
    return out


def format_mmlu(question: str, choices: list[str]) -> str:
    """An MMLU question as a plain user prompt: the question, then lettered choices."""
    lines = [question.strip(), ""] + [f"{'ABCD'[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines)


def mmlu(frames: dict[str, pd.DataFrame], rules: dict, where: str) -> list[RawItem]:
    """MMLU questions from the subjects not reserved for the fine-tuning task (safe, core,
    category = subject)."""
    out = []
    reserved = set(rules["mmlu_task_subjects"])
    for subject, df in sorted(frames.items()):
        if subject in reserved:
            continue
        _require(df, ["question", "choice0", "choice1", "choice2", "choice3"], f"{where} ({subject})")
        for i, row in enumerate(df.itertuples(index=False)):
            prompt = format_mmlu(cell_text(row.question), [cell_text(getattr(row, f"choice{k}")) for k in range(4)])
            out.append(RawItem("mmlu", f"{subject}/{i}", prompt, "safe", subject, subject, "core"))
    return out


# --- locations --------------------------------------------------------------------------------

def verify_file(path: Path, expected: str | None, verify: bool, name: str) -> str:
    if not path.is_file():
        raise DriftCapsError(f"{path}: source file for '{name}' not found; pass --sources DIR holding "
                             "the public files (see data/sources.yaml) or --sources hub.")
    digest = sha256_file(path)
    if verify and expected and digest != expected:
        raise DriftCapsError(f"{path}: sha256 {digest[:12]}... differs from the registry (data/sources.yaml: "
                             f"{expected[:12]}...); the file was changed or truncated: restore it, or pass "
                             "--no-verify to build from it anyway.")
    return digest


def read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DriftCapsError(f"{path}: not a readable UTF-8 CSV ({str(e).splitlines()[0]}); restore the file.") from None


def read_local(name: str, folder: Path, spec: dict, rules: dict, verify: bool) -> tuple[list[RawItem], dict[str, str]]:
    """Read source ``name`` from ``folder``; return its raw items and ``{file: sha256}`` of what was read.

    Raises:
        DriftCapsError: a missing file, a sha256 mismatch (unless ``verify`` is false), bad
            encoding or a missing column; the message names the file and the fix.
    """
    hashes: dict[str, str] = {}

    def get(rel: str) -> Path:
        p = folder / rel
        hashes[rel] = verify_file(p, spec["files"].get(rel), verify, name)
        return p

    files = list(spec["files"])
    if name == "advbench":
        return advbench(read_csv(get(files[0])), rules, str(folder / files[0])), hashes
    if name == "harmbench":
        return harmbench(read_csv(get(files[0])), rules, str(folder / files[0])), hashes
    if name == "jbb":
        h, b = get("jbb_harmful_behaviors.csv"), get("jbb_benign_behaviors.csv")
        return jbb(read_csv(h), read_csv(b), rules, str(folder / "jbb_*.csv")), hashes
    if name == "xstest":
        return xstest(read_csv(get(files[0])), rules, str(folder / files[0])), hashes
    if name == "hatecheck":
        return hatecheck(read_csv(get(files[0])), rules, str(folder / files[0])), hashes
    if name == "openai_moderation":
        return openai_moderation(read_jsonl(get(files[0])), rules, str(folder / files[0])), hashes
    if name == "mmlu":
        sums = get(spec["sums_file"])
        frames = {}
        for line in sums.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            digest, fname = line.split(maxsplit=1)
            rel = str(Path(spec["sums_file"]).parent / fname.strip())
            hashes[rel] = verify_file(folder / rel, digest, verify, name)
            frames[fname.strip().removesuffix("_test.csv")] = read_csv(folder / rel)
        return mmlu(frames, rules, str(folder / "mmlu_test")), hashes
    raise DriftCapsError(f"data/sources.yaml: source '{name}' has no reader; remove it or add one.")


def read_hub(name: str, spec: dict, rules: dict) -> tuple[list[RawItem], dict[str, str]]:
    """Read source ``name`` from its Hub copy (``datasets.load_dataset``); fields are checked and
    renamed to the local files' columns. The Hub has no pinned hashes: the manifest records the
    dataset id and fingerprint instead."""
    import datasets

    hub = spec["hub"]
    where = f"hub:{hub['id']}"

    def load(config: str | None, split: str) -> pd.DataFrame:
        try:
            ds = datasets.load_dataset(hub["id"], config, split=split)
        except Exception as e:  # noqa: BLE001 - any Hub failure becomes one clear line
            raise DriftCapsError(f"{where}: could not load ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                                 "check the network or use --sources DIR.") from None
        hashes[f"{hub['id']}:{config or ''}:{split}"] = getattr(ds, "_fingerprint", "") or ""
        return ds.to_pandas().rename(columns=hub.get("columns") or {})

    hashes: dict[str, str] = {}
    readers: dict[str, Callable[[], list[RawItem]]] = {
        "advbench": lambda: advbench(load(None, hub["split"]), rules, where),
        "xstest": lambda: xstest(load(None, hub["split"]).assign(
            id=lambda d: d.get("id", pd.Series(range(1, len(d) + 1))).astype(str)), rules, where),
        "hatecheck": lambda: hatecheck(load(None, hub["split"]), rules, where),
        "openai_moderation": lambda: openai_moderation(load(None, hub["split"]).to_dict("records"), rules, where),
    }
    if name in readers:
        return readers[name](), hashes
    if name == "harmbench":
        frames = []
        for cfg in hub["configs"]:
            df = load(cfg, hub["split"])
            if "ContextString" not in df.columns:
                df["ContextString"] = ""
            df["FunctionalCategory"] = cfg
            df["BehaviorID"] = [f"{cfg}-{i}" for i in range(len(df))]
            frames.append(df)
        return harmbench(pd.concat(frames, ignore_index=True), rules, where), hashes
    if name == "jbb":
        return jbb(load(hub["config"], "harmful"), load(hub["config"], "benign"), rules, where), hashes
    if name == "mmlu":
        df = load(hub["config"], hub["split"])
        _require(df, ["question", "subject", "choices"], where)
        for k in range(4):
            df[f"choice{k}"] = df["choices"].map(lambda c, k=k: str(list(c)[k]) if len(c) > k else "")
        return mmlu(dict(tuple(df.groupby("subject"))), rules, where), hashes
    raise DriftCapsError(f"data/sources.yaml: source '{name}' has no Hub reader.")
