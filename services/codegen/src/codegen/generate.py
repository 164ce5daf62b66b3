"""The generate -> test -> judge -> rewrite loop (phases 2, 3 and 5 of the method), without gRPC.

Skill functions: the LLM writes initiation/termination for one skill; the code must pass the
validator and a smoke run in the sandbox, else the problems go back to the LLM (at most
`max_refinements` rewrites). Policies: the LLM writes `select_skill` and a unit test; the test runs
in the sandbox; the LLM reads the printed trace and answers yes/no; "no" (or a crash, or invalid
code) leads to a line-by-line rewrite, at most `max_refinements` times. The first attempt is
greedy, retries sample (temperature > 0, seed varied). No human gate. The best attempt (the last
that passed, else the last that at least validated) and the whole transcript are kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Callable

from codegen.extract import code_blocks
from maestro_common.llm.completion import LlmClient

RETRY_TEMPERATURE = 0.7
PROMPT_VERSION = "v1"


def load_prompts(name: str, version: str = PROMPT_VERSION) -> dict:
    return json.loads((resources.files("codegen") / "prompts" / version / f"{name}.json").read_text())


@dataclass
class RunOutcome:
    """What running code (and its test) produced: `problems` is empty when it passed."""

    problems: list[str]
    output: str


@dataclass
class Generation:
    code: str
    test_code: str
    passed: bool
    rounds: int
    """LLM writing rounds used (1 = the first attempt passed)."""
    transcript: list[dict] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class GenerationSettings:
    max_refinements: int = 3
    """Rewrites after the first attempt."""
    max_tokens: int = 1024
    """Generation budget of one answer."""
    seed: int = 0


class Generator:
    def __init__(self, client: LlmClient, settings: GenerationSettings,
                 validate: Callable[[str, str], list[str]], run: Callable[..., RunOutcome],
                 contract: Callable[[str], str]):
        """`validate(code, role)` -> problems; `run(role, code, test_code, skill=...)` -> RunOutcome (sandbox);
        `contract(role)` -> the contract text for the prompt."""
        self.client, self.settings = client, settings
        self.validate, self.run, self.contract = validate, run, contract

    # -- one LLM turn ---------------------------------------------------------------------------

    def _ask(self, messages: list[dict], result: Generation, round_: int, max_tokens: int | None = None) -> str:
        temperature = 0.0 if round_ == 0 else RETRY_TEMPERATURE
        completion = self.client.chat(messages, max_tokens=max_tokens or self.settings.max_tokens,
                                      temperature=temperature, seed=self.settings.seed + round_)
        result.prompt_tokens += completion.prompt_tokens
        result.completion_tokens += completion.completion_tokens
        messages.append({"role": "assistant", "content": completion.text})
        return completion.text

    # -- skill functions ------------------------------------------------------------------------

    def skill_functions(self, name: str, description: str) -> Generation:
        prompts = load_prompts("skill_functions")
        messages = [{"role": "system", "content": prompts["system"]},
                    {"role": "user", "content": prompts["user"].format(contract=self.contract("skill_functions"),
                                                                       name=name, description=description)}]
        result = Generation(code="", test_code="", passed=False, rounds=0, transcript=messages)
        for round_ in range(self.settings.max_refinements + 1):
            result.rounds = round_ + 1
            blocks = code_blocks(self._ask(messages, result, round_))
            code = blocks[0] if blocks else ""
            problems = self.validate(code, "skill_functions") if code else ["the answer has no ```python block"]
            if not problems:
                run = self.run("skill_functions", code, "", skill=name)
                problems = run.problems
                result.code = code
            if not problems:
                result.passed = True
                return result
            messages.append({"role": "user", "content": prompts["fix"].format(problems="\n".join(problems))})
        return result

    # -- policies over skills -------------------------------------------------------------------

    def policy(self, goal: str, skills: list[tuple[str, str]], hints: list[str]) -> Generation:
        prompts = load_prompts("policy")
        skill_text = "\n".join(f"- {name}: {description}" for name, description in skills)
        user = prompts["user"].format(contract=self.contract("policy"), skills=skill_text, goal=goal,
                                      hints="\n".join(f"- {h}" for h in hints) or "- (none)")
        messages = [{"role": "system", "content": prompts["system"]}, {"role": "user", "content": user}]
        result = Generation(code="", test_code="", passed=False, rounds=0, transcript=messages)
        for round_ in range(self.settings.max_refinements + 1):
            result.rounds = round_ + 1
            blocks = code_blocks(self._ask(messages, result, round_))
            code, test_code = (blocks + ["", ""])[:2]
            problems = self.validate(code, "policy") if code else ["the answer has no ```python block"]
            if problems:
                messages.append({"role": "user", "content": "That code cannot be used:\n" + "\n".join(problems)
                                 + "\nRewrite it and reply with the policy and the test in two ```python blocks."})
                continue
            result.code, result.test_code = code, test_code
            run = self.run("policy", code, test_code, skill="")
            trace = run.output[-4000:]
            if not run.problems:
                check = messages + [{"role": "user", "content": prompts["trace_check"].format(trace=trace, goal=goal)}]
                verdict = self._ask(check, result, 0, max_tokens=4)
                messages.extend(check[len(messages):])
                if verdict.strip().lower().startswith("yes"):
                    result.passed = True
                    return result
            else:
                trace = "\n".join(run.problems) + "\n" + trace
            messages.append({"role": "user", "content": prompts["rewrite"].format(trace=trace)})
        return result
