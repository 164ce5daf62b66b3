"""LLM-written code: the contract it is written against, its validation, and its restricted loading.

- `contract`: the read-only context (`SkillContext`, `Snapshot`), the functions to write per role,
  the allow-lists, and `contract_doc(role)`, the text an LLM prompt includes;
- `validator`: `validate(code, role)` -> `ValidationIssue`s (empty = valid);
- `loader`: `load_skill_functions` and `load_policy`, restricted callables with a step budget;
- `artifact`: the JSON code artifact (`code_artifact`, `parse_code_artifact`, `load_artifact`).
"""

from maestro_common.generated.artifact import CodeArtifact, code_artifact, load_artifact, parse_code_artifact
from maestro_common.generated.contract import SKILL_NAMES, SkillContext, Snapshot, contract_doc
from maestro_common.generated.guards import DEFAULT_STEP_LIMIT, BudgetExceeded
from maestro_common.generated.loader import GeneratedCodeError, SkillFunctions, load_policy, load_skill_functions
from maestro_common.generated.validator import ValidationIssue, validate

__all__ = ["DEFAULT_STEP_LIMIT", "SKILL_NAMES", "BudgetExceeded", "CodeArtifact", "GeneratedCodeError",
           "SkillContext", "SkillFunctions", "Snapshot", "ValidationIssue", "code_artifact", "contract_doc",
           "load_artifact", "load_policy", "load_skill_functions", "parse_code_artifact", "validate"]
