"""The three judge modes. Each turns a pair of observations and a skill preference into a label.

- pairwise_cot: the paper's judge. Chain of thought, then a verdict parsed by regex; one retry
  prompt when no verdict is found; still nothing -> "unknown".
- pairwise_logprob: one token, asked in both orders; P("1") vs P("2") picks a side in each order;
  the orders agree -> that side, they disagree -> "tie"; no usable token -> "unknown".
- pointwise_logprob: P(yes) of each observation alone (normalised over yes/no); the difference
  decides, within `tie_margin` -> "tie". An observation is scored once per skill and reused by
  every pair it appears in (the cache), which is why this mode suits small, slow models.
Every LLM answer goes through the persistent cache first.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from llm_annotator.cache import ResponseCache, cache_key
from llm_annotator.observations import Observation, Pair
from llm_annotator.prompts import PromptTemplate
from maestro_common.llm.completion import Completion, LlmClient

TOP_LOGPROBS = 10


@dataclass(frozen=True)
class JudgeSettings:
    temperature: float = 0.1
    """Sampling temperature of the chain-of-thought judge (logprob modes read one greedy token)."""
    max_tokens: int = 512
    """Generation budget of the chain-of-thought answer."""
    tie_margin: float = 0.03
    """pointwise: |P(yes|first) - P(yes|second)| below this is a tie."""
    seed: int = 0


@dataclass
class Judgement:
    label: str
    raw_answer: str
    score_first: float | None = None
    score_second: float | None = None
    llm_calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    parse_failed: bool = False
    answers: list[str] = field(default_factory=list)

    def account(self, answer: tuple[Completion, bool]) -> Completion:
        """Count one answer (completion, served_from_cache) and return the completion."""
        completion, from_cache = answer
        self.llm_calls += 1
        if from_cache:
            self.cache_hits += 1
        else:
            self.prompt_tokens += completion.prompt_tokens
            self.completion_tokens += completion.completion_tokens
            self.latency_s += completion.latency_s
        return completion


class Judge:
    def __init__(self, client: LlmClient, template: PromptTemplate, cache: ResponseCache, settings: JudgeSettings):
        self.client, self.template, self.cache, self.settings = client, template, cache, settings

    def judge(self, pair: Pair, preference: str) -> Judgement:
        mode = self.template.mode
        if mode == "pairwise_cot":
            return self._pairwise_cot(pair, preference)
        if mode == "pairwise_logprob":
            return self._pairwise_logprob(pair, preference)
        return self._pointwise(pair, preference)

    # -- one cached chat call ---------------------------------------------------------------------

    def _chat(self, messages: list[dict], *, max_tokens: int, temperature: float,
              top_logprobs: int) -> tuple[Completion, bool]:
        """The answer to a chat prompt and whether the persistent cache served it."""
        request = {"kind": "chat", "messages": messages, "max_tokens": max_tokens, "temperature": temperature,
                   "top_logprobs": top_logprobs, "seed": self.settings.seed, "prompt": self.template.digest}
        key = cache_key(self.client.model, request)
        cached = self.cache.get(key)
        if cached is not None:
            return cached, True
        completion = self.client.chat(messages, max_tokens=max_tokens, temperature=temperature,
                                      seed=self.settings.seed, top_logprobs=top_logprobs)
        self.cache.put(key, completion)
        return completion, False

    def _messages(self, **fields) -> list[dict]:
        return [{"role": "system", "content": self.template.system},
                {"role": "user", "content": self.template.user.format(**fields)}]

    # -- modes -------------------------------------------------------------------------------------

    def _pairwise_cot(self, pair: Pair, preference: str) -> Judgement:
        result = Judgement(label="unknown", raw_answer="")
        messages = self._messages(preference=preference, first=pair.first.text(), second=pair.second.text())
        answer = result.account(self._chat(messages, max_tokens=self.settings.max_tokens,
                                           temperature=self.settings.temperature, top_logprobs=0)).text
        result.answers.append(answer)
        verdict = parse_verdict(answer, self.template.answer_pattern)
        if verdict is None:
            retry = messages + [{"role": "assistant", "content": answer},
                                {"role": "user", "content": self.template.retry}]
            answer = result.account(self._chat(retry, max_tokens=32, temperature=self.settings.temperature,
                                               top_logprobs=0)).text
            result.answers.append(answer)
            verdict = parse_verdict(answer, self.template.answer_pattern)
        result.raw_answer = "\n---\n".join(result.answers)
        result.parse_failed = verdict is None
        result.label = verdict or "unknown"
        return result

    def _pairwise_logprob(self, pair: Pair, preference: str) -> Judgement:
        result = Judgement(label="unknown", raw_answer="")
        picks = []
        for first, second, flipped in ((pair.first, pair.second, False), (pair.second, pair.first, True)):
            messages = self._messages(preference=preference, first=first.text(), second=second.text())
            completion = result.account(self._chat(messages, max_tokens=1, temperature=0.0, top_logprobs=TOP_LOGPROBS))
            result.answers.append(completion.text)
            p1 = choice_probability(completion, self.template.choices["first"])
            p2 = choice_probability(completion, self.template.choices["second"])
            if p1 + p2 == 0:
                picks.append(None)
                continue
            side = "first" if p1 >= p2 else "second"
            if flipped:
                side = "second" if side == "first" else "first"
            picks.append(side)
            share = p1 / (p1 + p2)
            if flipped:
                result.score_second = share
            else:
                result.score_first = share
        result.raw_answer = " | ".join(result.answers)
        if None in picks:
            result.parse_failed = True
            result.label = "unknown"
        else:
            result.label = picks[0] if picks[0] == picks[1] else "tie"
        return result

    def _pointwise(self, pair: Pair, preference: str) -> Judgement:
        result = Judgement(label="unknown", raw_answer="")
        scores = [self._p_yes(observation, preference, result) for observation in (pair.first, pair.second)]
        result.score_first, result.score_second = scores
        result.raw_answer = " | ".join(result.answers)
        if None in scores:
            result.parse_failed = True
            return result
        difference = scores[0] - scores[1]
        if abs(difference) < self.settings.tie_margin:
            result.label = "tie"
        else:
            result.label = "first" if difference > 0 else "second"
        return result

    def _p_yes(self, observation: Observation, preference: str, result: Judgement) -> float | None:
        messages = self._messages(preference=preference, observation=observation.text())
        completion = result.account(self._chat(messages, max_tokens=1, temperature=0.0, top_logprobs=TOP_LOGPROBS))
        result.answers.append(completion.text)
        p_yes = choice_probability(completion, self.template.choices["yes"])
        p_no = choice_probability(completion, self.template.choices["no"])
        return p_yes / (p_yes + p_no) if p_yes + p_no > 0 else None


def parse_verdict(answer: str, pattern: str) -> str | None:
    """first/second/tie from the last verdict in `answer`, or None when there is none."""
    found = re.findall(pattern, answer, flags=re.IGNORECASE)
    if not found:
        return None
    return {"1": "first", "2": "second"}.get(found[-1], "tie")


def choice_probability(completion: Completion, words: list[str]) -> float:
    """Probability mass of the first generated token on `words` (case and surrounding space ignored)."""
    if not completion.token_logprobs:
        return 0.0
    wanted = {w.lower() for w in words}
    return sum(math.exp(lp) for token, lp in completion.token_logprobs[0].items() if token.strip().lower() in wanted)
