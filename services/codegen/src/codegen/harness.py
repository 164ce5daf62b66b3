"""Runs generated code and its unit test in the sandbox, loaded exactly as the learner loads it.

The sandbox gets three files: the code, the test, and an entry script that puts the shared
library on the path, validates and loads the code with the restricted loader, and then runs the
test with `select_skill` (policies) or `initiation`/`termination` (skill functions) and the
contract's helpers (`Snapshot`, `SkillContext`, `make_snapshot`, `make_context`) in scope. With no
test, skill functions are run through the golden situations of `codegen.golden` (the start, deeper,
higher, N and 20 x N turns later, each precondition) and every wrong answer is reported.
"""

from __future__ import annotations

import json
from pathlib import Path

import maestro_common
from codegen.generate import RunOutcome
from codegen.golden import EXPECTED, SITUATIONS
from codegen.sandbox import SandboxLimits, SandboxResult, run_python

LIBRARY_ROOT = str(Path(maestro_common.__file__).resolve().parents[1])
CODEGEN_ROOT = str(Path(__file__).resolve().parents[1])
PASSED_MARKER = "ALL TESTS PASSED"
GOLDEN_MARKER = "GOLDEN PROBLEMS:"
_sandbox = run_python
"""The sandbox backend: `codegen.sandbox.run_python`, or `PodSandbox.run_python` (see `use_sandbox`)."""


def use_sandbox(runner) -> None:
    """Run every sandboxed program with `runner(files, entry, limits) -> SandboxResult` from now on."""
    global _sandbox
    _sandbox = runner


ENTRY = '''
import sys
sys.path.insert(0, {library!r})
from maestro_common.generated.contract import SKILL_NAMES, SkillContext, Snapshot, make_context, make_snapshot
from maestro_common.generated.loader import load_policy, load_skill_functions

code = open("generated.py").read()
scope = dict(SKILL_NAMES=SKILL_NAMES, SkillContext=SkillContext, Snapshot=Snapshot, make_context=make_context,
             make_snapshot=make_snapshot)
if {role!r} == "policy":
    scope["select_skill"] = load_policy(code)
else:
    functions = load_skill_functions({{{load_name!r}: code}})[{load_name!r}]
    scope.update(initiation=functions.initiation, termination=functions.termination)
test = open("test_generated.py").read()
if test.strip():
    exec(compile(test, "test_generated.py", "exec"), scope)
    if callable(scope.get("test")):
        scope["test"]()
elif {role!r} != "policy":
    wrong = []
    for situation, fields in {situations!r}.items():
        fields = dict(fields)
        context = make_context(now=make_snapshot(**fields.pop("now")), start=make_snapshot(**fields.pop("start")),
                               **fields)
        for name, expected in zip(("initiation", "termination"), {expected!r}.get(situation, (None, None))):
            value = scope[name](context)
            print(name, "on", situation, "->", value)
            if expected is not None and value != expected:
                wrong.append(f"{{name}}(ctx) returned {{value}} on {{situation}}; it should return {{expected}}")
    if wrong:
        sys.exit("wrong answers:\\n" + "\\n".join(wrong))
print({marker!r})
'''


def run_generated(role: str, code: str, test_code: str, limits: SandboxLimits | None = None, *,
                  skill: str = "") -> SandboxResult:
    """Run `test_code` against `code` (role "policy", or "skill_functions") in the sandbox. With a
    `skill` name, skill functions are also held to that skill's golden answers."""
    entry = ENTRY.format(library=LIBRARY_ROOT, role=role, marker=PASSED_MARKER, load_name=skill or "Discoverer",
                         situations=SITUATIONS, expected=EXPECTED.get(skill, {}))
    files = {"generated.py": code, "test_generated.py": test_code, "main.py": entry}
    return _sandbox(files, "main.py", limits or SandboxLimits())


GOLDEN_ENTRY = '''
import json
import sys
sys.path[:0] = [{library!r}, {codegen!r}]
from codegen.golden_policy import run_suite
from maestro_common.generated.loader import load_policy

problems = run_suite({suite!r}, load_policy(open("generated.py").read()))
print({marker!r} + json.dumps(problems))
'''


def run_policy_golden(code: str, suite: str, limits: SandboxLimits | None = None) -> list[str]:
    """Problems of a policy under golden suite `suite` (`codegen.golden_policy`), played in the
    sandbox; a crash or a limit hit is a problem too. Empty = passed."""
    entry = GOLDEN_ENTRY.format(library=LIBRARY_ROOT, codegen=CODEGEN_ROOT, suite=suite, marker=GOLDEN_MARKER)
    result = _sandbox({"generated.py": code, "main.py": entry}, "main.py", limits or SandboxLimits())
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(GOLDEN_MARKER) and result.exit_status == 0:
            return [str(problem) for problem in json.loads(line[len(GOLDEN_MARKER):])]
    return problems_of(result) or ["the golden check did not finish"]


def problems_of(result: SandboxResult) -> list[str]:
    """Why a run did not pass (empty when it did)."""
    problems = []
    if result.limit_hit != "none":
        problems.append(f"the run hit its {result.limit_hit} limit")
    if result.exit_status != 0:
        tail = result.stderr.strip().splitlines()[-12:]
        problems.append(f"the run failed (exit status {result.exit_status}):\n" + "\n".join(tail))
    elif PASSED_MARKER not in result.stdout:
        problems.append("the test did not finish")
    return problems


def outcome_of(result: SandboxResult) -> RunOutcome:
    """What the generation loop needs of a sandbox run: its problems and its printed output."""
    return RunOutcome(problems_of(result), result.stdout + ("\n" + result.stderr if result.stderr else ""))
