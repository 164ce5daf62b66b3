"""Versioned judge prompts, stored as data files: prompts/<version>/<mode>.json.

The skill-dependent preference comes first and the observations last, so every prompt of one
skill shares a long prefix that the LLM server's prefix cache evaluates only once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources

from maestro_common.errors import InvalidArgument

MODES = ("pairwise_cot", "pairwise_logprob", "pointwise_logprob")
LATEST_VERSION = "v1"


@dataclass(frozen=True)
class PromptTemplate:
    version: str
    mode: str
    system: str
    user: str
    retry: str = ""
    answer_pattern: str = ""
    choices: dict | None = None

    @property
    def digest(self) -> str:
        """Hash of the template text: part of every cache key, so an edited prompt is never served stale."""
        text = json.dumps([self.system, self.user, self.retry, self.answer_pattern, self.choices], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def available_versions() -> list[str]:
    root = resources.files("llm_annotator") / "prompts"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))


def load_prompt(mode: str, version: str = "") -> PromptTemplate:
    """The template of `mode` at `version` (newest when empty); InvalidArgument naming the field otherwise."""
    version = version or LATEST_VERSION
    if version not in available_versions():
        raise InvalidArgument("prompt_version", f"unknown version {version!r}; available: {available_versions()}")
    if mode not in MODES:
        raise InvalidArgument("judge_mode", f"unknown mode {mode!r}; available: {MODES}")
    data = json.loads((resources.files("llm_annotator") / "prompts" / version / f"{mode}.json").read_text())
    return PromptTemplate(version=version, mode=data["mode"], system=data["system"], user=data["user"],
                          retry=data.get("retry", ""), answer_pattern=data.get("answer_pattern", ""),
                          choices=data.get("choices"))
