"""The generation loop with a scripted LLM and scripted checks (test doubles only)."""

from __future__ import annotations

from codegen.extract import code_blocks
from codegen.generate import Generation, GenerationSettings, Generator, RunOutcome
from maestro_common.llm.completion import Completion, TokenUsage


class ScriptedChatForTest:
    """LlmClient double answering from a list, recording the temperatures it was asked with."""

    model = "scripted-for-test"

    def __init__(self, answers: list[str]):
        self.answers, self.temperatures = list(answers), []

    def chat(self, messages, *, max_tokens, temperature=0.0, seed=None, top_logprobs=0, stop=None):
        self.temperatures.append(temperature)
        return Completion(self.answers.pop(0), "stop", 10, 5, 0.0, self.model, [])

    def complete(self, prompt, **kwargs):
        return self.chat([{"role": "user", "content": prompt}], **kwargs)

    def usage(self):
        return TokenUsage()

    def close(self):
        pass


def _py(code: str) -> str:
    return f"Here you go:\n```python\n{code}\n```\n"


def _generator(answers, *, bad_code=(), failing_runs=0, settings: GenerationSettings | None = None):
    runs = {"left": failing_runs}

    def validate(code, role):
        return [f"line 1: {code} is not allowed"] if code in bad_code else []

    def run(role, code, test, skill):
        if runs["left"]:
            runs["left"] -= 1
            return RunOutcome(["AssertionError: went up"], "step 1 Ascender")
        return RunOutcome([], "step 1 Descender\nTEST PASSED")

    client = ScriptedChatForTest(answers)
    return Generator(client, settings or GenerationSettings(), validate, run,
                     contract=lambda role: f"CONTRACT({role})"), client


def test_code_blocks():
    assert code_blocks("a\n```python\nx = 1\n```\nb\n```\ny = 2\n```") == ["x = 1", "y = 2"]
    assert code_blocks("def f(ctx):\n    return True") == ["def f(ctx):\n    return True"]
    assert code_blocks("no code") == []


def test_skill_functions_rewrite_until_valid_and_sample_on_retries():
    generator, client = _generator([_py("bad"), _py("good")], bad_code={"bad"})
    result = generator.skill_functions("Descender", "go down")
    assert (result.passed, result.rounds, result.code) == (True, 2, "good")
    assert client.temperatures[0] == 0.0 and client.temperatures[1] > 0
    assert "bad is not allowed" in result.transcript[3]["content"]
    assert "CONTRACT(skill_functions)" in result.transcript[1]["content"]


def test_policy_passes_when_the_judge_accepts_the_trace():
    generator, _ = _generator([_py("policy") + _py("test"), "yes"])
    result = generator.policy("alternate", [("Descender", "go down")], ["go deep"])
    assert (result.passed, result.rounds, result.code, result.test_code) == (True, 1, "policy", "test")
    assert any("TEST PASSED" in m["content"] for m in result.transcript if m["role"] == "user")


def test_policy_rewrites_after_a_failing_test_and_a_rejected_trace():
    answers = [_py("p1") + _py("t1"), _py("p2") + _py("t2"), "no", _py("p3") + _py("t3"), "yes"]
    generator, _ = _generator(answers, failing_runs=1)
    result = generator.policy("alternate", [("Descender", "go down")], [])
    assert (result.passed, result.rounds, result.code) == (True, 3, "p3")
    assert "AssertionError" in result.transcript[3]["content"]


def test_a_model_that_never_passes_ends_with_the_best_attempt_and_the_transcript():
    answers = [_py("p") + _py("t"), "no"] * 3
    generator, _ = _generator(answers, settings=GenerationSettings(max_refinements=2))
    result: Generation = generator.policy("alternate", [("Descender", "go down")], [])
    assert (result.passed, result.rounds, result.code) == (False, 3, "p")
    assert len([m for m in result.transcript if m["role"] == "assistant"]) == 6


def test_golden_problems_go_back_to_the_llm_before_its_own_test_is_judged():
    answers = [_py("wrong") + _py("t1"), _py("right") + _py("t2"), "yes"]
    generator, client = _generator(answers)
    seen = []

    def golden(code):
        seen.append(code)
        return ["seed 0: went down to depth 9; the maximum depth is at most 4"] if code == "wrong" else []

    result = generator.policy("alternate", [("Descender", "go down")], [], golden=golden)
    assert (result.passed, result.rounds, result.code, result.golden_problems) == (True, 2, "right", [])
    assert seen == ["wrong", "right"]
    feedback = result.transcript[3]["content"]
    assert "simulated episodes" in feedback and "at most 4" in feedback


def test_a_policy_that_never_passes_the_golden_checks_keeps_them_in_the_result():
    answers = [_py("wrong") + _py("t")] * 2
    generator, client = _generator(answers, settings=GenerationSettings(max_refinements=1))
    result = generator.policy("alternate", [], [], golden=lambda code: ["never entered the Mines"])
    assert (result.passed, result.rounds, result.golden_problems) == (False, 2, ["never entered the Mines"])
    assert len(client.temperatures) == 2  # no trace check was asked for code that failed the golden checks


def test_finished_generations_are_reported_and_prompt_sets_are_selectable():
    finished = []
    generator, client = _generator([_py("good"), _py("good")],
                                   settings=GenerationSettings(prompt_version="v1", first_temperature=0.7))
    generator.on_finish = lambda *args: finished.append(args)
    generator.skill_functions("Descender", "go down")
    assert finished == [("skill_functions", True, 1, 10, 5)]
    assert client.temperatures == [0.7]


def test_descriptions_split_into_what_initiation_and_termination():
    from codegen.generate import split_description

    assert split_description("Goes down. Initiation: at any time. Termination: one level deeper.") == (
        "Goes down.", "at any time.", "one level deeper.")
    assert split_description("Goes down until deeper.") == ("Goes down until deeper.", "as the description says",
                                                            "as the description says")
    generator, _ = _generator([_py("good")])
    result = generator.skill_functions("Descender", "Goes down. Initiation: at any time. Termination: deeper.")
    assert "initiation(ctx) must return True when: at any time." in result.transcript[1]["content"]
    assert "termination(ctx) must return True when: deeper." in result.transcript[1]["content"]


def test_a_policy_and_its_test_in_one_block_are_split():
    from codegen.extract import policy_and_test

    one = _py("LIMIT = 3\n\ndef select_skill(ctx, available, state):\n    return available[0]\n\n"
              "def test():\n    assert True")
    code, test = policy_and_test(one)
    assert code.endswith("return available[0]") and test.startswith("def test():")
    assert policy_and_test(_py("a") + _py("b")) == ("a", "b")
    assert policy_and_test("no code") == ("", "")


def test_validation_feedback_quotes_the_offending_line():
    answers = [_py("x = 1\ndef select_skill(ctx, available, state):\n    return ctx.random()") + _py("t"),
               _py("good") + _py("t"), "yes"]
    client = ScriptedChatForTest(answers)

    def validate(code, role):
        return ["line 3, column 11: ctx.random is a value, not a function"] if "random()" in code else []

    generator = Generator(client, GenerationSettings(), validate, lambda *a, **k: RunOutcome([], "ok"),
                          contract=lambda role: "C")
    result = generator.policy("goal", [], [])
    assert result.passed and "that line: return ctx.random()" in result.transcript[3]["content"]


def test_after_the_golden_suite_passes_only_the_test_is_rewritten():
    answers = [_py("right") + _py("def test():\n    assert False"),
               _py("changed") + _py("def test():\n    assert True"), "yes"]
    generator, client = _generator(answers, failing_runs=1)
    golden_calls = []

    def golden(code):
        golden_calls.append(code)
        return []

    result = generator.policy("alternate", [("Descender", "go down")], [], golden=golden)
    assert (result.passed, result.rounds, result.golden_passed) == (True, 2, True)
    assert result.code == "right" and result.test_code == "def test():\n    assert True"
    assert golden_calls == ["right"]
    feedback = result.transcript[3]["content"]
    assert "Your select_skill is right" in feedback and "it failed when run" in feedback


def test_a_rejected_trace_of_a_verified_policy_asks_for_a_new_test():
    answers = [_py("right") + _py("def test():\n    pass"), "no", _py("def test():\n    print(1)"), "yes"]
    generator, _ = _generator(answers)
    result = generator.policy("alternate", [], [], golden=lambda code: [])
    assert (result.passed, result.rounds, result.code, result.test_code) == (True, 2, "right",
                                                                             "def test():\n    print(1)")
    assert any("does not show the required behaviour" in m["content"] for m in result.transcript
               if m["role"] == "user")
