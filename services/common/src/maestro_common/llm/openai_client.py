"""LlmClient over the OpenAI-compatible HTTP API: `vllm serve`, llama.cpp's server, hosted endpoints.

Only the standard library is used. A semaphore bounds the requests in flight. A request is retried,
with exponential backoff and jitter (or the server's Retry-After), only when repeating it is safe and
may help: the connection failed or timed out, or the server answered 429 or 5xx. Any other 4xx is the
caller's or the deployment's mistake and is raised at once with the server's message. Completions
have no side effects, so repeating one after a timeout is harmless.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

from maestro_common.errors import DomainError, FailedPrecondition, InvalidArgument, Unavailable
from maestro_common.llm.completion import Completion, TokenUsage, UsageMeter, completion_from_response

MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 120.0


class _Retryable(Exception):
    """An attempt failed in a way that another attempt may fix."""

    def __init__(self, reason: str, retry_after_s: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


class OpenAICompatibleClient:
    """An LlmClient that POSTs to `<base_url>/v1/chat/completions` and `<base_url>/v1/completions`."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, max_concurrency: int = 4,
                 timeout_s: float = 120, max_retries: int = 4, backoff_s: float = 0.5, extra_body: dict | None = None):
        """`extra_body` holds server-specific fields sent with every request (an OpenAI endpoint refuses
        fields it does not know, so it is empty by default); see `LlamaServer.request_defaults`."""
        if max_concurrency < 1:
            raise InvalidArgument("max_concurrency", f"must be at least 1, got {max_concurrency}")
        if max_retries < 0:
            raise InvalidArgument("max_retries", f"must be 0 or more, got {max_retries}")
        root = base_url.rstrip("/")
        self.base_url = root[: -len("/v1")] if root.endswith("/v1") else root
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.extra_body = dict(extra_body or {})
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._meter = UsageMeter()
        self._jitter = random.Random()
        self._closed = False

    def chat(self, messages: list[dict], *, max_tokens: int, temperature: float = 0.0, seed: int | None = None,
             top_logprobs: int = 0, stop: list[str] | None = None) -> Completion:
        """POST /v1/chat/completions; logprobs asked as `logprobs: true, top_logprobs: k`."""
        if not messages:
            raise InvalidArgument("messages", "must hold at least one message")
        body = self._common(max_tokens, temperature, seed, top_logprobs, stop) | {"messages": messages}
        if top_logprobs:
            body |= {"logprobs": True, "top_logprobs": top_logprobs}
        return self._call("/v1/chat/completions", body, chat=True)

    def complete(self, prompt: str, *, max_tokens: int, temperature: float = 0.0, seed: int | None = None,
                 top_logprobs: int = 0, stop: list[str] | None = None) -> Completion:
        """POST /v1/completions; logprobs asked as `logprobs: k`."""
        body = self._common(max_tokens, temperature, seed, top_logprobs, stop) | {"prompt": prompt}
        if top_logprobs:
            body["logprobs"] = top_logprobs
        return self._call("/v1/completions", body, chat=False)

    def usage(self) -> TokenUsage:
        """Cumulative counters over every call of this client."""
        return self._meter.snapshot()

    def close(self) -> None:
        """Refuse further calls (connections are not pooled, so nothing else is held)."""
        self._closed = True

    def _common(self, max_tokens: int, temperature: float, seed: int | None, top_logprobs: int,
                stop: list[str] | None) -> dict:
        if max_tokens < 1:
            raise InvalidArgument("max_tokens", f"must be at least 1, got {max_tokens}")
        if top_logprobs < 0:
            raise InvalidArgument("top_logprobs", f"must be 0 or more, got {top_logprobs}")
        body: dict = self.extra_body | {"model": self.model, "max_tokens": max_tokens, "temperature": temperature}
        if seed is not None:
            body["seed"] = seed
        if stop:
            body["stop"] = list(stop)
        return body

    def _call(self, path: str, body: dict, *, chat: bool) -> Completion:
        """Send with retries; count the call in the usage meter whatever its outcome."""
        if self._closed:
            raise FailedPrecondition(f"the LLM client for {self.base_url} is closed")
        url = self.base_url + path
        payload = json.dumps(body).encode()
        started = time.perf_counter()
        self._meter.add(requests=1)
        try:
            answer = self._send_with_retries(url, payload)
        except DomainError:
            self._meter.add(failures=1)
            raise
        completion = completion_from_response(answer, latency_s=time.perf_counter() - started, chat=chat,
                                              default_model=self.model)
        self._meter.add(prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens)
        return completion

    def _send_with_retries(self, url: str, payload: bytes) -> dict:
        for attempt in range(self.max_retries + 1):
            try:
                with self._slots:
                    return self._send_once(url, payload)
            except _Retryable as failure:
                if attempt == self.max_retries:
                    raise Unavailable(f"LLM endpoint {url} failed {attempt + 1} time(s); last error: "
                                      f"{failure.reason}") from None
                self._meter.add(retries=1)
                time.sleep(self._delay(attempt, failure.retry_after_s))
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after_s: float | None) -> float:
        """Retry-After when the server gave one, else exponential backoff with jitter in [d/2, d]."""
        if retry_after_s is not None:
            return min(retry_after_s, MAX_RETRY_AFTER_S)
        ceiling = min(self.backoff_s * 2**attempt, MAX_BACKOFF_S)
        return self._jitter.uniform(ceiling / 2, ceiling)

    def _send_once(self, url: str, payload: bytes) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise _http_error(url, error) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:  # refused, reset, timeouts
            raise _Retryable(f"{type(error).__name__}: {getattr(error, 'reason', error)}") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise _Retryable(f"the answer is not JSON: {raw[:200]!r}") from None


def _http_error(url: str, error: urllib.error.HTTPError) -> Exception:
    """The exception for an HTTP error status: retryable for 429/5xx, a domain error otherwise."""
    status = error.code
    message = _server_message(error.read())
    if status == 429 or status >= 500:
        return _Retryable(f"HTTP {status}: {message}", _retry_after(error.headers.get("Retry-After")))
    if status in (400, 413, 422):
        return InvalidArgument("request", f"{url} refused it (HTTP {status}): {message}")
    hint = {401: "check the api key", 403: "check the api key", 404: "check base_url and the served model name"}
    return FailedPrecondition(f"{url} answered HTTP {status}: {message}"
                              + (f" ({hint[status]})" if status in hint else ""))


def _server_message(raw: bytes) -> str:
    """The error text of an OpenAI, vLLM or FastAPI error body, else the body itself (shortened)."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:500] or "(empty body)"
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return str(error)[:500]
    return text[:500]


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
