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


_TEST_START = re.compile(r"^def test\(", re.MULTILINE)


def policy_and_test(answer: str) -> tuple[str, str]:
    """(policy code, unit test) from an answer that should hold them in two blocks. Small models often
    put both in one block: it is split where the top-level `def test(` begins."""
    blocks = code_blocks(answer)
    if len(blocks) == 1:
        match = _TEST_START.search(blocks[0])
        if match:
            return blocks[0][:match.start()].rstrip("\n"), blocks[0][match.start():]
    return tuple((blocks + ["", ""])[:2])  # type: ignore[return-value]


def test_of(answer: str) -> str:
    """The unit test in an answer: the block (or the part of a block) that starts at `def test(`."""
    for block in code_blocks(answer):
        match = _TEST_START.search(block)
        if match:
            return block[match.start():]
    return ""
