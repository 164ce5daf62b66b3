"""Runs generated code and its unit test in the sandbox, loaded exactly as the learner loads it.

The sandbox gets three files: the code, the test, and an entry script that puts the shared
library on the path, validates and loads the code with the restricted loader, and then runs the
test with `select_skill` (policies) or `initiation`/`termination` (skill functions) and the
contract's helpers (`Snapshot`, `SkillContext`, `make_snapshot`, `make_context`) in scope. With no
test, skill functions get a smoke run over a few typical situations (first turn, each precondition,
deeper, higher, many turns later), which catches crashes and non-bool answers, not wrong logic.
"""

from __future__ import annotations

from pathlib import Path

import maestro_common
from codegen.sandbox import SandboxLimits, SandboxResult, run_python

LIBRARY_ROOT = str(Path(maestro_common.__file__).resolve().parents[1])
PASSED_MARKER = "ALL TESTS PASSED"

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
    functions = load_skill_functions({{{skill!r}: code}})[{skill!r}]
    scope.update(initiation=functions.initiation, termination=functions.termination)
test = open("test_generated.py").read()
if test.strip():
    exec(compile(test, "test_generated.py", "exec"), scope)
    if callable(scope.get("test")):
        scope["test"]()
elif {role!r} != "policy":
    start = make_snapshot(depth=2, turn=100)
    situations = {{
        "the first turn": make_context(),
        "a shopkeeper and new items near": make_context(merchant_precondition=True, now=make_snapshot(new_items=1)),
        "an altar and new items near": make_context(worshipper_precondition=True, now=make_snapshot(new_items=1)),
        "one level deeper than at the start": make_context(now=make_snapshot(depth=3, turn=150), start=start),
        "one level higher than at the start": make_context(now=make_snapshot(depth=1, turn=150), start=start),
        "20000 turns after the start": make_context(now=make_snapshot(depth=2, turn=20100), start=start),
    }}
    for situation, context in situations.items():
        for name in ("initiation", "termination"):
            print(name, "on", situation, "->", scope[name](context))
print({marker!r})
'''


def run_generated(role: str, code: str, test_code: str, limits: SandboxLimits | None = None, *,
                  skill: str = "Discoverer") -> SandboxResult:
    """Run `test_code` against `code` (role "policy", or "skill_functions" of `skill`) in the sandbox."""
    entry = ENTRY.format(library=LIBRARY_ROOT, role=role, marker=PASSED_MARKER, skill=skill)
    files = {"generated.py": code, "test_generated.py": test_code, "main.py": entry}
    return run_python(files, "main.py", limits or SandboxLimits())


def problems_of(result: SandboxResult) -> list[str]:
    """Why a run did not pass (empty when it did)."""
    problems = []
    if result.limit_hit != "none":
        problems.append(f"the run hit its {result.limit_hit} limit")
    if result.exit_status != 0:
        tail = result.stderr.strip().splitlines()[-6:]
        problems.append(f"the run failed (exit status {result.exit_status}):\n" + "\n".join(tail))
    elif PASSED_MARKER not in result.stdout:
        problems.append("the test did not finish")
    return problems
