"""Compile validated generated code into restricted callables with a per-call step budget.

The code is validated (`validator.validate`), rewritten by `instrument`, compiled, and executed in a
namespace whose ``__builtins__`` holds only the allow-list (with a length-capped `range`). Each
returned callable resets its step counter, calls the generated function, and checks the result:
predicates must return a bool; the policy must return one of the names in `available`.

Errors: invalid code -> `InvalidArgument("code", ...)` listing every issue; going over the budget ->
`BudgetExceeded`; any other exception from the code or a wrong return value -> `GeneratedCodeError`
naming the function and the line. A loaded program keeps one step counter: call it from one thread.
"""

from __future__ import annotations

import builtins
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from maestro_common.errors import DomainError, FailedPrecondition, InvalidArgument
from maestro_common.generated import guards
from maestro_common.generated.contract import ALLOWED_BUILTINS, SKILL_NAMES, SkillContext
from maestro_common.generated.instrument import TICK, instrument
from maestro_common.generated.validator import format_issues, parse_checked, validate

PolicyFunction = Callable[[SkillContext, list[str], dict], str]
"""select_skill(ctx, available, state) -> the name of the next skill."""


class GeneratedCodeError(FailedPrecondition):
    """Generated code raised an exception or returned a value outside its contract."""


@dataclass(frozen=True)
class SkillFunctions:
    """The two loaded predicates of one skill."""

    initiation: Callable[[SkillContext], bool]
    """True when the skill may start now."""
    termination: Callable[[SkillContext], bool]
    """True when the running skill has finished."""


def restricted_builtins() -> dict[str, Any]:
    """The builtins generated code runs with: the allow-list, `range` capped."""
    allowed = {name: getattr(builtins, name) for name in ALLOWED_BUILTINS}
    allowed["range"] = guards.capped_range
    return allowed


def _filename(label: str) -> str:
    """The pseudo file name compiled code carries, so tracebacks name the program."""
    return f"<generated {label}>"


def _generated_line(error: BaseException, label: str) -> int | None:
    """The innermost line of the generated program in `error`'s traceback."""
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename == _filename(label)]
    return lines[-1] if lines else None


def compile_program(code: str, role: str, label: str, step_limit: int) -> tuple[dict[str, Any], Callable[[], None]]:
    """(namespace after running the module, reset of its step counter); raises InvalidArgument."""
    issues = validate(code, role)
    if issues:
        raise InvalidArgument("code", f"{label} failed validation:\n{format_issues(issues)}")
    tree, _ = parse_checked(code)
    assert tree is not None  # validate() found no issue, so the code parsed
    tick, reset = guards.step_counter(step_limit)
    namespace: dict[str, Any] = {
        "__builtins__": restricted_builtins(), TICK: tick, "_mul": guards.guarded_mul, "_pow": guards.guarded_pow,
        "_lshift": guards.guarded_lshift, "_add": guards.guarded_add,
    }
    exec(compile(instrument(tree), _filename(label), "exec"), namespace)  # noqa: S102 - validated and restricted
    return namespace, reset


def _where(error: BaseException, program: str) -> str:
    """" at line N" for the innermost line of `program` in `error`'s traceback, or ""."""
    line = _generated_line(error, program)
    return f" at line {line}" if line is not None else ""


def _guarded_call(function: Callable[..., Any], reset: Callable[[], None], label: str,
                  program: str) -> Callable[..., Any]:
    """`function` (`label`, compiled as `program`) with a fresh step budget per call and errors translated."""

    def call(*args: Any) -> Any:
        reset()
        try:
            return function(*args)
        except guards.BudgetExceeded as error:
            raise guards.BudgetExceeded(f"{label}{_where(error, program)}: {error.message}") from None
        except DomainError:
            raise
        except Exception as error:  # the generated code's own failure, reported to its author
            raise GeneratedCodeError(f"{label} raised {type(error).__name__}{_where(error, program)}: "
                                     f"{error}") from error

    return call


def _bool_result(function: Callable[[SkillContext], Any], label: str) -> Callable[[SkillContext], bool]:
    """A predicate that refuses any result other than True or False."""

    def predicate(ctx: SkillContext) -> bool:
        result = function(ctx)
        if type(result) is not bool:
            raise GeneratedCodeError(f"{label} returned {type(result).__name__} {result!r}; it must return True "
                                     "or False")
        return result

    return predicate


def load_skill_functions(code_by_skill: dict[str, str], *,
                         step_limit: int = guards.DEFAULT_STEP_LIMIT) -> dict[str, SkillFunctions]:
    """Validated, restricted initiation/termination callables per skill; InvalidArgument on bad code."""
    unknown = sorted(set(code_by_skill) - set(SKILL_NAMES))
    if unknown or not code_by_skill:
        raise InvalidArgument("code_by_skill", f"skills must be among {SKILL_NAMES}; got {sorted(code_by_skill)}")
    loaded: dict[str, SkillFunctions] = {}
    for skill, code in code_by_skill.items():
        namespace, reset = compile_program(code, "skill_functions", skill, step_limit)
        functions = {}
        for name in ("initiation", "termination"):
            label = f"{skill}.{name}"
            functions[name] = _bool_result(_guarded_call(namespace[name], reset, label, skill), label)
        loaded[skill] = SkillFunctions(**functions)
    return loaded


def load_policy(code: str, *, step_limit: int = guards.DEFAULT_STEP_LIMIT) -> PolicyFunction:
    """A validated, restricted select_skill; each call checks the answer is one of `available`."""
    namespace, reset = compile_program(code, "policy", "select_skill", step_limit)
    select = _guarded_call(namespace["select_skill"], reset, "select_skill", "select_skill")

    def policy(ctx: SkillContext, available: list[str], state: dict) -> str:
        if not available:
            raise FailedPrecondition("select_skill called with no available skill; at least Discoverer, "
                                     "Descender and Ascender always initiate")
        choice = select(ctx, list(available), state)
        if not isinstance(choice, str) or choice not in available:
            raise GeneratedCodeError(f"select_skill returned {choice!r}, which is not one of the available "
                                     f"skills {list(available)}")
        return choice

    return policy
