"""Test doubles for the annotator tests (never used on product paths)."""

from __future__ import annotations

import math
import threading

from maestro_common.errors import Unavailable
from maestro_common.llm.completion import Completion, TokenUsage


class ScriptedLlmForTest:
    """An LlmClient double. Logprob prompts: "yes"/"1" is likely when the LAST description in the
    prompt shows a level change of +1 (so the pointwise and pairwise verdicts are predictable);
    chat answers without logprobs return `cot_answers` in turn. `fail_after` calls -> Unavailable."""

    def __init__(self, *, cot_answers: list[str] | None = None, fail_after: int | None = None):
        self.model = "scripted-for-test"
        self.calls = 0
        self.cot_answers = list(cot_answers or [])
        self.fail_after = fail_after
        self._lock = threading.Lock()

    def chat(self, messages, *, max_tokens, temperature=0.0, seed=None, top_logprobs=0, stop=None) -> Completion:
        with self._lock:
            self.calls += 1
            if self.fail_after is not None and self.calls > self.fail_after:
                raise Unavailable("scripted LLM endpoint went away")
        prompt = messages[-1]["content"]
        if top_logprobs:
            good = _descends(prompt)
            if "yes or no" in prompt:
                p = 0.9 if good else 0.2
                top = {"yes": math.log(p), "no": math.log(1 - p)}
            else:
                # Prefer the description that descends; neither descends -> always "1" (position bias).
                first, second = _descriptions(prompt)
                p1 = 0.8 if (_descends(first) or not _descends(second)) else 0.2
                top = {"1": math.log(p1), "2": math.log(1 - p1)}
            return Completion(text=max(top, key=top.get), finish_reason="length", prompt_tokens=len(prompt) // 4,
                              completion_tokens=1, latency_s=0.001, model=self.model, token_logprobs=[top])
        text = self.cot_answers.pop(0) if self.cot_answers else "I cannot decide."
        return Completion(text=text, finish_reason="stop", prompt_tokens=len(prompt) // 4, completion_tokens=20,
                          latency_s=0.001, model=self.model, token_logprobs=[])

    def complete(self, prompt, **kwargs) -> Completion:
        return self.chat([{"role": "user", "content": prompt}], **kwargs)

    def usage(self) -> TokenUsage:
        return TokenUsage(requests=self.calls, prompt_tokens=0, completion_tokens=0, retries=0, failures=0)

    def close(self) -> None:
        pass


def _descends(text: str) -> bool:
    return "dungeon level change: +1" in text


def _descriptions(prompt: str) -> tuple[str, str]:
    first = prompt.split("Description 1:", 1)[1].split("Description 2:", 1)[0]
    second = prompt.split("Description 2:", 1)[1]
    return first, second
