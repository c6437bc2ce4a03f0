"""Text handling of the pattern judge (:mod:`driftcaps.judges.pattern`): coercing table cells
to text, stripping what says nothing (zero-width characters, chat special tokens), blanking code
while keeping positions, sentence spans and affirmative openers.

Changing any of these changes verdicts: bump ``PatternRefusalJudge.version``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from driftcaps.judges.phrases import (
    _CODE_SYNTAX_RE,
    _FENCE_RE,
    _INDENTED_CODE_RE,
    _INLINE_CODE_RE,
    _NOT_NEWLINE_RE,
    _OPENER_RE,
    _SENT_END_RE,
)


def normalize_response(value: Any) -> str:
    """Coerce a table cell to text: ``None``/NaN -> ``""``, bytes decoded (undecodable bytes
    replaced), anything else ``str()``; the result is stripped of surrounding whitespace."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _strip_degenerate(value)
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (bytes, bytearray)):
        return _strip_degenerate(bytes(value).decode("utf-8", errors="replace"))
    try:  # pandas.NA, numpy NaN scalars and the like
        if value != value:  # NaN is the only value unequal to itself
            return ""
    except (TypeError, ValueError):
        pass
    return _strip_degenerate(str(value))


_INVISIBLE_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_SPECIAL_TOKEN_RE = re.compile(r"<\|[a-z_]{2,20}\|>|</?s>|<(?:end_of_turn|eos|bos|pad|unk)>", re.IGNORECASE)


def _strip_degenerate(text: str) -> str:
    """``text`` without surrounding whitespace, zero-width characters and chat special tokens
    (``<|im_end|>``, ``<|eot_id|>``, ``</s>``, ...); ``""`` when no letter or digit remains (a
    response of ``...`` or a bare end-of-turn token says nothing: the empty-response rule)."""
    if "<" in text or _INVISIBLE_RE.search(text):
        text = _SPECIAL_TOKEN_RE.sub("", _INVISIBLE_RE.sub("", text))
    text = text.strip()
    return text if any(c.isalnum() for c in text) else ""


def _blank(segment: str) -> str:
    return _NOT_NEWLINE_RE.sub(" ", segment)


def mask_code(text: str) -> tuple[str, int]:
    """Blank out code (fenced, indented and inline), keeping length and line breaks.

    Returns the masked text and the number of characters inside code *blocks* (fenced or
    indented; inline code is not counted), which the judge uses as evidence of compliance.
    """
    if "`" not in text and "~~~" not in text and "    " not in text and "\t" not in text:
        return text, 0
    parts: list[str] = []
    block_chars = 0
    pos = 0
    # fences: pair successive ``` (or ~~~) markers; an unclosed fence runs to the end
    fences = (
        [m.start() for m in _FENCE_RE.finditer(text)] if ("```" in text or "~~~" in text) else []
    )
    for k in range(0, len(fences), 2):
        start = fences[k]
        end = fences[k + 1] + 3 if k + 1 < len(fences) else len(text)
        if start < pos:
            continue
        parts.append(text[pos:start])
        inner = text[start + 3:end - 3 if k + 1 < len(fences) else end].split("\n", 1)
        body = inner[1] if len(inner) > 1 and re.fullmatch(r"[\w+#.-]*\s*", inner[0]) else "\n".join(inner)
        if k + 1 < len(fences) and _is_prose(body):  # a closed block of sentences is read
            parts.append(" " * 3 + text[start + 3:end - 3] + " " * 3)
        else:
            parts.append(_blank(text[start:end]))
            block_chars += end - start
        pos = end
    parts.append(text[pos:])
    out = "".join(parts) if fences else text
    if "    " in out or "\t" in out:

        def _indented(m: re.Match) -> str:
            nonlocal block_chars
            block = m.group(1)
            if _is_prose(block):
                return m.group(0)
            if block.strip():
                block_chars += len(block)
            return m.group(0)[: m.start(1) - m.start(0)] + _blank(block)

        out = _INDENTED_CODE_RE.sub(_indented, ("\n" + out) if out[:1] in (" ", "\t") else out)
        out = out[1:] if len(out) > len(text) else out
    if "`" in out:  # inline code is blanked, unless the whole response is one span of sentences
        whole = out.strip()
        if whole.startswith("`") and whole.endswith("`") and whole.count("`") == 2 and _is_prose(whole[1:-1]):
            out = out.replace("`", " ")
        else:
            out = _INLINE_CODE_RE.sub(lambda m: " " * len(m.group(0)), out)
    return out, block_chars


def _is_prose(block: str) -> bool:
    """A block of sentences rather than code: three or more words and none of the syntax of
    :data:`~driftcaps.judges.phrases._CODE_SYNTAX_RE` (version 1.2: a refusal put in a code
    block is read)."""
    return len(re.findall(r"[^\W\d_]{2,}", block)) >= 3 and not _CODE_SYNTAX_RE.search(block)


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """Split ``text`` into (start, end) spans of sentences (whitespace-only spans dropped)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENT_END_RE.finditer(text):
        end = m.end()
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    if start < len(text) and text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _opener_end(text: str) -> int:
    """End position of the affirmative openers at the start of ``text`` (at most three)."""
    pos = 0
    for _ in range(3):
        m = _OPENER_RE.match(text, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
    return pos
