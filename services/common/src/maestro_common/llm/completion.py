"""What every LLM backend returns and promises: Completion, TokenUsage and the LlmClient protocol.

Backends differ in transport (HTTP, in-process llama.cpp, in-process vLLM) but answer in the OpenAI
response format, so the logprob parsing lives here once. Two shapes exist:
- chat completions: `choices[0].logprobs.content[i].top_logprobs[j] = {"token", "logprob"}`;
- text completions: `choices[0].logprobs.top_logprobs[i] = {token: logprob}`.
Both become `Completion.token_logprobs`: one `{token: logprob}` dict per generated token.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Completion:
    """One model answer."""

    text: str
    """The generated text (without the prompt)."""
    finish_reason: str
    """Why generation stopped: "stop" (end of turn or a stop string), "length" (max_tokens) or the server's word."""
    prompt_tokens: int
    """Tokens in the prompt, as the backend counted them."""
    completion_tokens: int
    """Tokens generated."""
    latency_s: float
    """Wall-clock seconds of the call that produced it, retries and queueing included."""
    model: str
    """The model that answered (the server's name for it)."""
    token_logprobs: list[dict[str, float]]
    """Per generated token, its top-k alternatives token -> natural-log probability; empty when not asked."""
    cached: bool = False
    """True when the backend reported reusing cached prompt tokens, or a response cache answered."""


@dataclass(frozen=True)
class TokenUsage:
    """Cumulative counters of one client since it was made."""

    requests: int = 0
    """Calls made (a call retried three times counts once)."""
    prompt_tokens: int = 0
    """Prompt tokens over the successful calls."""
    completion_tokens: int = 0
    """Generated tokens over the successful calls."""
    retries: int = 0
    """Extra attempts made after retryable failures."""
    failures: int = 0
    """Calls that ended in an error."""


class UsageMeter:
    """Thread-safe accumulator behind `LlmClient.usage()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage = TokenUsage()

    def add(self, *, requests: int = 0, prompt_tokens: int = 0, completion_tokens: int = 0,
            retries: int = 0, failures: int = 0) -> None:
        """Add to the counters atomically."""
        with self._lock:
            u = self._usage
            self._usage = TokenUsage(u.requests + requests, u.prompt_tokens + prompt_tokens,
                                     u.completion_tokens + completion_tokens, u.retries + retries,
                                     u.failures + failures)

    def snapshot(self) -> TokenUsage:
        """The counters now."""
        with self._lock:
            return self._usage


@runtime_checkable
class LlmClient(Protocol):
    """The one interface the annotator and codegen services use to talk to a language model.

    `temperature=0` is greedy decoding; `top_logprobs=k > 0` fills `Completion.token_logprobs` with
    the k most likely tokens at each generated position. Implementations are safe to call from
    several threads.
    """

    model: str

    def chat(self, messages: list[dict], *, max_tokens: int, temperature: float = 0.0, seed: int | None = None,
             top_logprobs: int = 0, stop: list[str] | None = None) -> Completion:
        """Answer a list of {"role", "content"} messages with the model's chat template applied."""
        ...

    def complete(self, prompt: str, *, max_tokens: int, temperature: float = 0.0, seed: int | None = None,
                 top_logprobs: int = 0, stop: list[str] | None = None) -> Completion:
        """Continue a raw prompt (no chat template)."""
        ...

    def usage(self) -> TokenUsage:
        """Cumulative token and request counters."""
        ...

    def close(self) -> None:
        """Release connections, threads and model memory."""
        ...


def parse_logprobs(logprobs: Any) -> list[dict[str, float]]:
    """Per-token top alternatives from either OpenAI logprobs shape (None or empty -> [])."""
    if not logprobs:
        return []
    content = logprobs.get("content")
    if content is not None:
        return [_chat_token(entry) for entry in content]
    return [{str(k): float(v) for k, v in (entry or {}).items()} for entry in logprobs.get("top_logprobs") or []]


def _chat_token(entry: dict) -> dict[str, float]:
    alternatives = entry.get("top_logprobs") or []
    if not alternatives and "token" in entry:
        return {entry["token"]: float(entry["logprob"])}
    return {alt["token"]: float(alt["logprob"]) for alt in alternatives}


def completion_from_response(body: dict, *, latency_s: float, chat: bool, default_model: str) -> Completion:
    """A Completion from an OpenAI-format response body (chat or text completions)."""
    choice = body["choices"][0]
    text = (choice.get("message") or {}).get("content") if chat else choice.get("text")
    usage = body.get("usage") or {}
    cached_tokens = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return Completion(
        text=text or "",
        finish_reason=choice.get("finish_reason") or "stop",
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        latency_s=latency_s,
        model=body.get("model") or default_model,
        token_logprobs=parse_logprobs(choice.get("logprobs")),
        cached=cached_tokens > 0,
    )
