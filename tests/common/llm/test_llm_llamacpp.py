"""The real thing on the tiny SmolLM2 model: llama.cpp's OpenAI server over HTTP, and llama.cpp in process.

llama-cpp-python is part of the setup, so these fail (never skip) when it is missing.
"""

from __future__ import annotations

import math
import sys
import time

import llama_cpp  # noqa: F401  (a missing install must fail these tests loudly)
import pytest

from maestro_common.errors import FailedPrecondition, InvalidArgument
from maestro_common.llm import (
    DEFAULT_EMBEDDED_MODEL,
    LlamaCppClient,
    LlmClient,
    LlmConfig,
    OpenAICompatibleClient,
    embedded_model_path,
    make_client,
)
from maestro_common.llm.embedded import REGISTRY

MESSAGES = [{"role": "user", "content": "Name one colour."}]
PROMPT = "The capital of France is"


def assert_logprob_shape(answer, k: int) -> None:
    assert len(answer.token_logprobs) == answer.completion_tokens
    for alternatives in answer.token_logprobs:
        assert 1 <= len(alternatives) <= k
        assert all(isinstance(t, str) and v <= 1e-6 for t, v in alternatives.items())
        assert sum(math.exp(v) for v in alternatives.values()) <= 1.0 + 1e-4


@pytest.fixture(scope="module")
def http_client(tiny_server):
    client = OpenAICompatibleClient(tiny_server.base_url, tiny_server.model, timeout_s=60, max_retries=1,
                                    extra_body=tiny_server.request_defaults)
    yield client
    client.close()


def test_server_chat(http_client, tiny_server):
    answer = http_client.chat(MESSAGES, max_tokens=8)
    assert answer.text.strip()
    assert answer.model == "smollm2"
    assert answer.prompt_tokens > 5 and 1 <= answer.completion_tokens <= 8
    assert answer.token_logprobs == []
    assert tiny_server.log_path.exists()


def test_server_completions_with_logprobs(http_client):
    answer = http_client.complete(PROMPT, max_tokens=4, top_logprobs=3)
    assert answer.completion_tokens == 4 and answer.finish_reason == "length"
    assert_logprob_shape(answer, 3)
    assert all(len(alternatives) == 3 for alternatives in answer.token_logprobs)


def test_server_chat_with_top_logprobs(http_client):
    answer = http_client.chat(MESSAGES, max_tokens=4, top_logprobs=5)
    assert_logprob_shape(answer, 5)
    usage = http_client.usage()
    assert usage.requests >= 1 and usage.prompt_tokens > 0 and usage.failures == 0


def test_server_refuses_a_prompt_longer_than_its_context(http_client):
    with pytest.raises(InvalidArgument, match="context"):
        http_client.complete("word " * 3000, max_tokens=1)


def test_inprocess_gives_the_same_answers_as_the_server(http_client, tiny_inprocess):
    assert isinstance(tiny_inprocess, LlmClient)
    for ask in (lambda c: c.complete(PROMPT, max_tokens=4, top_logprobs=3),
                lambda c: c.chat(MESSAGES, max_tokens=4, top_logprobs=3)):
        over_http, in_process = ask(http_client), ask(tiny_inprocess)
        assert in_process.model == "smollm2"
        assert in_process.text == over_http.text
        assert (in_process.prompt_tokens, in_process.completion_tokens) == (
            over_http.prompt_tokens, over_http.completion_tokens)
        assert_logprob_shape(in_process, 3)
        for mine, theirs in zip(in_process.token_logprobs, over_http.token_logprobs, strict=True):
            assert mine.keys() == theirs.keys()
            assert all(abs(mine[t] - theirs[t]) < 0.05 for t in mine)


def test_inprocess_stop_and_accounting(tiny_inprocess):
    before = tiny_inprocess.usage()
    answer = tiny_inprocess.complete("1, 2, 3, 4,", max_tokens=12, stop=[","])
    assert "," not in answer.text and answer.finish_reason == "stop"
    after = tiny_inprocess.usage()
    assert after.requests == before.requests + 1
    assert after.completion_tokens == before.completion_tokens + answer.completion_tokens
    with pytest.raises(InvalidArgument, match="prompt"):
        tiny_inprocess.complete("word " * 3000, max_tokens=1)
    assert tiny_inprocess.usage().failures == before.failures + 1


def test_inprocess_prefix_cache_keeps_lean_states(tiny_inprocess):
    """Each answered prompt leaves its state in the RAM prefix cache, without the unused logits buffer."""
    tiny_inprocess.complete("Shared header. " * 20 + "First question?", max_tokens=2)
    tiny_inprocess.complete("Shared header. " * 20 + "Second question?", max_tokens=2)
    states = list(tiny_inprocess._llm.cache.cache_state.values())
    assert len(states) >= 2
    assert all(state.scores.nbytes <= 4 * tiny_inprocess._llm.n_vocab() for state in states)


def test_make_client_builds_each_backend(tiny_server):
    client = make_client(LlmConfig(backend="openai", model=tiny_server.model, base_url=tiny_server.base_url))
    assert isinstance(client, OpenAICompatibleClient) and client.model == "smollm2"
    with pytest.raises(InvalidArgument, match="base_url"):
        make_client(LlmConfig(backend="openai"))
    with pytest.raises(InvalidArgument, match="not an embedded model"):
        make_client(LlmConfig(backend="embedded", model="gpt-5"))
    with pytest.raises(InvalidArgument, match="backend"):
        make_client(LlmConfig(backend="tpu"))  # type: ignore[arg-type]


@pytest.mark.slow
def test_embedded_qwen_prefix_cache_pays_off(tmp_path):
    """A prompt sharing a ~300-token prefix with an earlier one (another prompt in between) is much faster."""
    client = make_client(LlmConfig(model=DEFAULT_EMBEDDED_MODEL, cache_dir=tmp_path, n_ctx=2048))
    assert isinstance(client, LlamaCppClient)
    prefix = "Rate whether each NetHack message shows progress. Answer yes or no.\n" + "".join(
        f"Message: You see here a scroll labeled {i}. Progress: no\n" for i in range(20))
    other = "Write a Python function that returns the larger of two numbers.\n" * 8

    def timed(prompt: str) -> float:
        started = time.perf_counter()
        client.complete(prompt, max_tokens=1, top_logprobs=5)
        return time.perf_counter() - started

    cold = timed(prefix + "Message: You kill the newt! Progress:")
    timed(other)
    warm = timed(prefix + "Message: You find a hidden door. Progress:")
    client.close()
    (tmp_path / f"{REGISTRY[DEFAULT_EMBEDDED_MODEL].sha256}.gguf").unlink()
    assert warm < cold / 2, (cold, warm)


def test_vllm_backend_without_vllm_is_a_failed_precondition(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail, installed or not
    with pytest.raises(FailedPrecondition, match="vllm"):
        make_client(LlmConfig(backend="vllm", model="Qwen/Qwen2.5-Coder-1.5B-Instruct"))


def test_embedded_model_path_is_used_by_make_client(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("maestro_common.llm.client.embedded_model_path",
                        lambda name, cache_dir: calls.append((name, cache_dir)) or embedded_model_path(
                            "smollm2-135m-instruct-q4_1", tmp_path))
    client = make_client(LlmConfig(model=DEFAULT_EMBEDDED_MODEL, cache_dir=tmp_path, n_ctx=512))
    assert calls == [(DEFAULT_EMBEDDED_MODEL, tmp_path)] and client.model == DEFAULT_EMBEDDED_MODEL
    client.close()
