"""Pull code out of an LLM answer: the ```python fenced blocks, in order."""

from __future__ import annotations

import re

_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def code_blocks(answer: str) -> list[str]:
    """Every fenced code block; an answer with no fence but a `def` is taken whole."""
    blocks = [b.strip("\n") for b in _FENCE.findall(answer)]
    if not blocks and "def " in answer:
        blocks = [answer.strip()]
    return blocks
