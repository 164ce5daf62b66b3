"""OpenAICompatibleClient against an in-test HTTP double: shapes, retries, errors, concurrency, accounting."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from maestro_common.errors import FailedPrecondition, InvalidArgument, Unavailable
from maestro_common.llm import LlmClient, OpenAICompatibleClient
from maestro_common.llm.openai_client import _retry_after
from maestro_common.llm.server import free_port

MESSAGES = [{"role": "user", "content": "Is the door open?"}]


def client_for(fake, **options) -> OpenAICompatibleClient:
    options.setdefault("backoff_s", 0.01)
    return OpenAICompatibleClient(fake.base_url, "served-model", **options)


def test_chat_asks_and_parses_chat_style_logprobs(fake_openai):
    client = client_for(fake_openai)
    assert isinstance(client, LlmClient)
    answer = client.chat(MESSAGES, max_tokens=2, top_logprobs=2, seed=3, stop=["\n"])

    sent = fake_openai.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"] == {"model": "served-model", "messages": MESSAGES, "max_tokens": 2, "temperature": 0.0,
                                 "seed": 3, "stop": ["\n"], "logprobs": True, "top_logprobs": 2}
    assert answer.text == "yes!"
    assert answer.finish_reason == "stop"
    assert answer.model == "served-model"
    assert answer.token_logprobs == [{"yes": -0.1, "no": -2.4}, {"!": -0.5, ".": -1.0}]
    assert (answer.prompt_tokens, answer.completion_tokens) == (7, 2)
    assert answer.latency_s > 0


def test_completions_ask_and_parse_completions_style_logprobs(fake_openai):
    answer = client_for(fake_openai).complete("2 + 2 =", max_tokens=2, top_logprobs=2)

    sent = fake_openai.requests[0]
    assert sent["path"] == "/v1/completions"
    assert sent["body"]["logprobs"] == 2 and sent["body"]["prompt"] == "2 + 2 ="
    assert answer.text == " 4\n"
    assert answer.finish_reason == "length"
    assert answer.token_logprobs == [{" 4": -0.2, " 5": -1.9}, {"\n": -0.7, ".": -1.1}]


def test_no_logprobs_asked_means_none_sent_and_none_returned(fake_openai):
    client = client_for(fake_openai)
    assert client.chat(MESSAGES, max_tokens=2).token_logprobs == []
    assert client.complete("x", max_tokens=2).token_logprobs == []
    assert all("logprobs" not in r["body"] and "seed" not in r["body"] for r in fake_openai.requests)


def test_base_url_with_v1_and_api_key(fake_openai):
    client = OpenAICompatibleClient(fake_openai.base_url + "/v1/", "m", api_key="sekret")
    client.complete("x", max_tokens=1)
    assert fake_openai.requests[0]["path"] == "/v1/completions"
    assert fake_openai.requests[0]["authorization"] == "Bearer sekret"


def test_token_accounting_is_cumulative(fake_openai):
    client = client_for(fake_openai)
    for _ in range(3):
        client.chat(MESSAGES, max_tokens=2)
    usage = client.usage()
    assert (usage.requests, usage.prompt_tokens, usage.completion_tokens, usage.retries, usage.failures) == (
        3, 21, 6, 0, 0)


def test_429_is_retried_after_the_servers_retry_after(fake_openai):
    fake_openai.script.append((429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}))
    client = client_for(fake_openai, backoff_s=0.001)

    started = time.monotonic()
    answer = client.chat(MESSAGES, max_tokens=2)

    assert answer.text == "yes!"
    first, second = fake_openai.requests
    assert second["time"] - first["time"] >= 0.95
    assert time.monotonic() - started >= 0.95
    assert client.usage().retries == 1 and client.usage().requests == 1


def test_503_is_retried_with_backoff(fake_openai):
    fake_openai.script.extend([(503, "overloaded", {}), (500, {"detail": "boom"}, {})])
    client = client_for(fake_openai)
    assert client.complete("x", max_tokens=2).text == " 4\n"
    assert len(fake_openai.requests) == 3
    assert client.usage().retries == 2 and client.usage().failures == 0


def test_400_is_not_retried_and_carries_the_servers_message(fake_openai):
    fake_openai.script.append((400, {"error": {"message": "max_tokens is too large: 99999"}}, {}))
    client = client_for(fake_openai)
    with pytest.raises(InvalidArgument, match="max_tokens is too large: 99999"):
        client.chat(MESSAGES, max_tokens=99999)
    assert len(fake_openai.requests) == 1
    assert client.usage().failures == 1 and client.usage().retries == 0


def test_404_is_a_failed_precondition(fake_openai):
    fake_openai.script.append((404, {"error": {"message": "model 'x' not found"}}, {}))
    with pytest.raises(FailedPrecondition, match="model 'x' not found.*served model name"):
        client_for(fake_openai).chat(MESSAGES, max_tokens=1)
    assert len(fake_openai.requests) == 1


def test_exhausted_retries_raise_unavailable_naming_url_and_last_error(fake_openai):
    fake_openai.script.extend([(503, {"error": {"message": f"busy {i}"}}, {}) for i in range(3)])
    client = client_for(fake_openai, max_retries=2)
    with pytest.raises(Unavailable) as raised:
        client.chat(MESSAGES, max_tokens=1)
    assert fake_openai.base_url + "/v1/chat/completions" in raised.value.message
    assert "HTTP 503: busy 2" in raised.value.message
    assert len(fake_openai.requests) == 3
    usage = client.usage()
    assert (usage.requests, usage.retries, usage.failures) == (1, 2, 1)


def test_connection_refused_is_retried_then_unavailable():
    url = f"http://127.0.0.1:{free_port()}"
    client = OpenAICompatibleClient(url, "m", max_retries=1, backoff_s=0.01)
    with pytest.raises(Unavailable, match="127.0.0.1.*failed 2 time"):
        client.complete("x", max_tokens=1)
    assert client.usage().retries == 1


def test_concurrency_limit_is_honoured(fake_openai):
    fake_openai.delay_s = 0.15
    client = OpenAICompatibleClient(fake_openai.base_url, "m", max_concurrency=2)
    threads = [threading.Thread(target=client.complete, args=("x",), kwargs={"max_tokens": 1}) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake_openai.requests) == 6
    assert fake_openai.max_in_flight == 2
    assert client.usage().requests == 6 and client.usage().failures == 0


def test_bad_arguments_are_refused_before_sending(fake_openai):
    client = client_for(fake_openai)
    with pytest.raises(InvalidArgument, match="max_tokens"):
        client.chat(MESSAGES, max_tokens=0)
    with pytest.raises(InvalidArgument, match="messages"):
        client.chat([], max_tokens=1)
    client.close()
    with pytest.raises(FailedPrecondition, match="closed"):
        client.complete("x", max_tokens=1)
    assert fake_openai.requests == []


def test_retry_after_accepts_seconds_and_http_dates():
    assert _retry_after("3") == 3.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 < _retry_after(later) <= 30
