"""The JSON code artifact: generated code plus how it was made, loaded by the skill-learner and evaluator.

    {"format": "maestro.generated-code/1", "role": "policy" | "skill_functions",
     "code": "<source>" | {"<skill>": "<source>", ...}, "code_sha256": "<hex>",
     "model": "...", "prompt_version": "...", "tests": "<unit test source>", "transcript": [{...}, ...]}

`code_sha256` is the sha256 of the canonical JSON of ``{"role": ..., "code": ...}``, so two artifacts
with the same code have the same hash whatever their transcripts; `parse_code_artifact` checks it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from maestro_common.errors import CorruptArtifact, InvalidArgument
from maestro_common.generated.contract import ROLES
from maestro_common.generated.loader import PolicyFunction, SkillFunctions, load_policy, load_skill_functions

ARTIFACT_FORMAT = "maestro.generated-code/1"
"""The `format` value of this version of the artifact."""


@dataclass(frozen=True)
class CodeArtifact:
    """A parsed code artifact."""

    role: str
    """"skill_functions" or "policy"."""
    code: str | dict[str, str]
    """The policy's source, or the source per skill name."""
    code_sha256: str
    """sha256 of the canonical JSON of role and code."""
    model: str
    """The LLM that wrote the code."""
    prompt_version: str
    """Version of the prompt files used."""
    tests: str
    """The unit test that checked the code (source), "" when none."""
    transcript: list[dict[str, Any]]
    """The generation and refinement conversation, one dict per message or step."""


def code_sha256(role: str, code: str | dict[str, str]) -> str:
    """The content hash of role and code."""
    canonical = json.dumps({"role": role, "code": code}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_code_shape(role: str, code: object) -> None:
    """A str for the policy, a dict of str for skill functions."""
    if role not in ROLES:
        raise InvalidArgument("role", f"unknown role {role!r}; expected one of {ROLES}")
    if role == "policy" and not isinstance(code, str):
        raise InvalidArgument("code", "a policy artifact holds one source string")
    is_source_dict = isinstance(code, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in code.items())
    if role == "skill_functions" and not (is_source_dict and code):
        raise InvalidArgument("code", "a skill_functions artifact holds a non-empty {skill name: source} dict")


def code_artifact(role: str, code: str | dict[str, str], *, model: str, prompt_version: str, tests: str,
                  transcript: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON-ready artifact dict for generated code (not validated here: see `validate`)."""
    _check_code_shape(role, code)
    artifact = {"format": ARTIFACT_FORMAT, "role": role, "code": code, "code_sha256": code_sha256(role, code),
                "model": model, "prompt_version": prompt_version, "tests": tests, "transcript": list(transcript)}
    try:
        json.dumps(artifact)
    except (TypeError, ValueError) as error:
        raise InvalidArgument("transcript", f"must be JSON-serialisable: {error}") from error
    return artifact


def parse_code_artifact(data: dict[str, Any] | str | bytes) -> CodeArtifact:
    """The artifact from its dict or JSON text; InvalidArgument if malformed, CorruptArtifact on a hash mismatch."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as error:
            raise InvalidArgument("artifact", f"not JSON: {error}") from error
    if not isinstance(data, dict):
        raise InvalidArgument("artifact", "must be a JSON object")
    if data.get("format") != ARTIFACT_FORMAT:
        raise InvalidArgument("artifact.format", f"expected {ARTIFACT_FORMAT!r}, got {data.get('format')!r}")
    missing = [key for key in ("role", "code", "code_sha256", "model", "prompt_version", "tests", "transcript")
               if key not in data]
    if missing:
        raise InvalidArgument("artifact", f"missing keys {missing}")
    _check_code_shape(data["role"], data["code"])
    expected = code_sha256(data["role"], data["code"])
    if data["code_sha256"] != expected:
        raise CorruptArtifact(f"code artifact: code_sha256 is {data['code_sha256']} but the code hashes to {expected}")
    return CodeArtifact(role=data["role"], code=data["code"], code_sha256=expected, model=str(data["model"]),
                        prompt_version=str(data["prompt_version"]), tests=str(data["tests"]),
                        transcript=list(data["transcript"]))


def load_artifact(artifact: CodeArtifact, *, step_limit: int | None = None
                  ) -> dict[str, SkillFunctions] | PolicyFunction:
    """The loaded callables: per-skill functions for "skill_functions", the policy for "policy"."""
    limit = {} if step_limit is None else {"step_limit": step_limit}
    if artifact.role == "policy":
        assert isinstance(artifact.code, str)
        return load_policy(artifact.code, **limit)
    assert isinstance(artifact.code, dict)
    return load_skill_functions(artifact.code, **limit)
