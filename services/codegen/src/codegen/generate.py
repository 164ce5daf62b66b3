"""The generate -> test -> judge -> rewrite loop (phases 2, 3 and 5 of the method), without gRPC.

Skill functions: the LLM writes initiation/termination for one skill; the code must pass the
validator and a smoke run in the sandbox, else the problems go back to the LLM (at most
`max_refinements` rewrites). Policies: the LLM writes `select_skill` and a unit test; the test runs
in the sandbox; the LLM reads the printed trace and answers yes/no; "no" (or a crash, or invalid
code) leads to a line-by-line rewrite, at most `max_refinements` times. The first attempt is
greedy, retries sample (temperature > 0, seed varied). No human gate. The best attempt (the last
that passed, else the last that at least validated) and the whole transcript are kept.

Each rewrite is asked in a short conversation: the original prompt, the previous answer and what
was wrong with it. Earlier attempts stay in the transcript but not in the prompt, so the context
stays bounded and a small model does not keep repeating its first code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Callable

from codegen.extract import code_blocks, policy_and_test, test_of
from maestro_common.llm.completion import LlmClient

RETRY_TEMPERATURE = 0.7
PROMPT_VERSION = "v3"
"""The prompt set used unless a request names another."""
PROMPT_VERSIONS = ("v1", "v2", "v3")
"""Every prompt set shipped (artifacts record which one wrote them)."""


def load_prompts(name: str, version: str = PROMPT_VERSION) -> dict:
    """Prompt texts `name` of prompt set `version` (codegen/prompts/<version>/<name>.json)."""
    return json.loads((resources.files("codegen") / "prompts" / version / f"{name}.json").read_text())


def split_description(description: str) -> tuple[str, str, str]:
    """(what the skill does, its initiation, its termination) from a description written as
    "... Initiation: ... Termination: ..."; both conditions fall back to the whole text."""
    lower = description.lower()
    start, end = lower.find("initiation:"), lower.find("termination:")
    if start < 0 or end < start:
        return description, "as the description says", "as the description says"
    return (description[:start].strip(), description[start + len("initiation:"):end].strip(),
            description[end + len("termination:"):].strip())


def _with_source_line(problem: str, code: str) -> str:
    """A validator problem ("line N, column M: ...") followed by the offending line of `code`."""
    head = problem.split(",", 1)[0]
    if head.startswith("line ") and head[5:].isdigit():
        lines = code.splitlines()
        number = int(head[5:])
        if 1 <= number <= len(lines):
            return f"{problem}\n    that line: {lines[number - 1].strip()}"
    return problem


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
    golden_problems: list[str] = field(default_factory=list)
    """What the golden checks found in the last attempt that reached them (empty = passed or none)."""
    golden_passed: bool = False
    """The policy passed its golden suite; from then on `code` is kept and only the test is rewritten."""


@dataclass(frozen=True)
class GenerationSettings:
    max_refinements: int = 3
    """Rewrites after the first attempt."""
    max_tokens: int = 1024
    """Generation budget of one answer."""
    seed: int = 0
    """Seed of the first answer; round k uses seed + k."""
    prompt_version: str = PROMPT_VERSION
    """Which prompt set writes the code (one of PROMPT_VERSIONS)."""
    first_temperature: float = 0.0
    """Temperature of the first answer (0 = greedy); retries always sample at RETRY_TEMPERATURE."""


class Generator:
    def __init__(self, client: LlmClient, settings: GenerationSettings,
                 validate: Callable[[str, str], list[str]], run: Callable[..., RunOutcome],
                 contract: Callable[[str], str], on_finish: Callable[[str, bool, int, int, int], None] | None = None):
        """`validate(code, role)` -> problems; `run(role, code, test_code, skill=...)` -> RunOutcome (sandbox);
        `contract(role)` -> the contract text for the prompt; `on_finish(role, passed, rounds, prompt_tokens,
        completion_tokens)` is told of every finished generation (metrics)."""
        self.client, self.settings = client, settings
        self.validate, self.run, self.contract = validate, run, contract
        self.on_finish = on_finish or (lambda *args: None)

    def _finish(self, role: str, result: Generation) -> Generation:
        self.on_finish(role, result.passed, result.rounds, result.prompt_tokens, result.completion_tokens)
        return result

    # -- one LLM turn ---------------------------------------------------------------------------

    def _ask(self, messages: list[dict], result: Generation, round_: int, max_tokens: int | None = None) -> str:
        """One answer to `messages`; the question's new messages and the answer go into the transcript."""
        temperature = self.settings.first_temperature if round_ == 0 else RETRY_TEMPERATURE
        completion = self.client.chat(messages, max_tokens=max_tokens or self.settings.max_tokens,
                                      temperature=temperature, seed=self.settings.seed + round_)
        result.prompt_tokens += completion.prompt_tokens
        result.completion_tokens += completion.completion_tokens
        if len(messages) > 2:
            result.transcript.append(messages[-1])
        result.transcript.append({"role": "assistant", "content": completion.text})
        return completion.text

    @staticmethod
    def _conversation(base: list[dict], answer: str, feedback: str) -> list[dict]:
        """The prompt of a rewrite: the original messages, the previous answer and what was wrong with it."""
        return base + [{"role": "assistant", "content": answer}, {"role": "user", "content": feedback}]

    # -- skill functions ------------------------------------------------------------------------

    def skill_functions(self, name: str, description: str) -> Generation:
        """initiation/termination for one skill, refined until the validator, the smoke run and the golden
        answers of that skill pass, or the round budget ends."""
        return self._finish("skill_functions", self._skill_functions(name, description))

    def _skill_functions(self, name: str, description: str) -> Generation:
        prompts = load_prompts("skill_functions", self.settings.prompt_version)
        summary, initiation, termination = split_description(description)
        user = prompts["user"].format(contract=self.contract("skill_functions"), name=name, description=description,
                                      summary=summary, initiation=initiation, termination=termination)
        base = [{"role": "system", "content": prompts["system"]}, {"role": "user", "content": user}]
        result = Generation(code="", test_code="", passed=False, rounds=0, transcript=list(base))
        messages = base
        for round_ in range(self.settings.max_refinements + 1):
            result.rounds = round_ + 1
            answer = self._ask(messages, result, round_)
            blocks = code_blocks(answer)
            code = blocks[0] if blocks else ""
            problems = self.validate(code, "skill_functions") if code else ["the answer has no ```python block"]
            if not problems:
                run = self.run("skill_functions", code, "", skill=name)
                problems = run.problems
                result.code = code
            if not problems:
                result.passed = True
                return result
            messages = self._conversation(base, answer, prompts["fix"].format(problems="\n".join(problems)))
        return result

    # -- policies over skills -------------------------------------------------------------------

    def policy(self, goal: str, skills: list[tuple[str, str]], hints: list[str],
               golden: Callable[[str], list[str]] | None = None) -> Generation:
        """`golden(code)` -> problems: exact checks run (in the sandbox) before the LLM's own test; a
        policy passes only when they, the test and the LLM's reading of the trace all pass."""
        return self._finish("policy", self._policy(goal, skills, hints, golden))

    def _policy(self, goal: str, skills: list[tuple[str, str]], hints: list[str],
                golden: Callable[[str], list[str]] | None) -> Generation:
        prompts = load_prompts("policy", self.settings.prompt_version)
        skill_text = "\n".join(f"- {name}: {description}" for name, description in skills)
        user = prompts["user"].format(contract=self.contract("policy"), skills=skill_text, goal=goal,
                                      hints="\n".join(f"- {h}" for h in hints) or "- (none)")
        base = [{"role": "system", "content": prompts["system"]}, {"role": "user", "content": user}]
        result = Generation(code="", test_code="", passed=False, rounds=0, transcript=list(base))
        messages = base
        for round_ in range(self.settings.max_refinements + 1):
            result.rounds = round_ + 1
            answer = self._ask(messages, result, round_)
            feedback = self._policy_feedback(answer, prompts, goal, golden, result)
            if not feedback:
                result.passed = True
                return result
            messages = self._conversation(base, answer, feedback)
        return result

    def _policy_feedback(self, answer: str, prompts: dict, goal: str, golden: Callable[[str], list[str]] | None,
                         result: Generation) -> str:
        """What is wrong with a policy answer, as the next message to the LLM ("" = it passed: valid, golden
        checks passed, its test ran and the LLM read the trace as right).

        The golden suite is the authority on the policy: once a policy passes it, the policy is kept and
        the remaining rounds only rewrite the LLM's own test (a small model's test is often the part that
        is wrong, and asking it to rewrite a right policy only breaks it)."""
        if result.golden_passed:
            test_code = test_of(answer)
            if not test_code:
                return self._test_feedback(prompts, "the answer has no `def test():` block", "")
            result.test_code = test_code
        else:
            code, test_code = policy_and_test(answer)
            problems = self.validate(code, "policy") if code else ["the answer has no ```python block"]
            if problems:
                return ("That code cannot be used:\n" + "\n".join(_with_source_line(p, code) for p in problems)
                        + "\nChange those lines and reply with the policy and the test in two ```python blocks.")
            result.code, result.test_code = code, test_code
            result.golden_problems = golden(code) if golden else []
            if result.golden_problems:
                listed = "\n".join(f"- {p}" for p in result.golden_problems)
                return (prompts["golden_failed"].format(problems=listed) if "golden_failed" in prompts
                        else prompts["rewrite"].format(trace=listed))  # prompt sets before v2
            result.golden_passed = golden is not None
        def rework(reason: str, trace: str) -> str:
            """A new test for a verified policy, else a rewrite of the policy and its test."""
            if result.golden_passed:
                return self._test_feedback(prompts, reason, trace)
            return prompts["rewrite"].format(trace=trace)

        run = self.run("policy", result.code, result.test_code, skill="")
        trace = run.output[-4000:]
        if run.problems:
            return rework("it failed when run:", "\n".join(run.problems) + "\n" + trace)
        check = [*result.transcript[:2], {"role": "assistant", "content": answer},
                 {"role": "user", "content": prompts["trace_check"].format(trace=trace, goal=goal)}]
        verdict = self._ask(check, result, 0, max_tokens=4)
        if verdict.strip().lower().startswith("yes"):
            return ""
        return rework("you judged that its output does not show the required behaviour:", trace)

    @staticmethod
    def _test_feedback(prompts: dict, reason: str, trace: str) -> str:
        """Ask for a new test of a policy that passed its golden suite (older prompt sets: a plain rewrite)."""
        if "test_failed" in prompts:
            return prompts["test_failed"].format(reason=reason, trace=trace)
        return prompts["rewrite"].format(trace=f"{reason}\n{trace}")
