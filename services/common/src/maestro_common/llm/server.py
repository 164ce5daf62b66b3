"""llama.cpp's own OpenAI-compatible server, run as a child process for one GGUF model.

`with LlamaServer(path) as server:` starts `python -m llama_cpp.server` on a free loopback port, waits
until `GET /v1/models` answers, and stops the process it started (by its pid) on exit. Point an
`OpenAICompatibleClient(server.base_url, server.model, extra_body=server.request_defaults)` at it: the
same HTTP path as a vLLM deployment, on a laptop. (`request_defaults` turns off this server's default
repeat penalty of 1.1, which OpenAI and vLLM do not apply, so that greedy answers agree.)
The server keeps every prompt position's logits (needed for logprobs there) and a RAM prefix cache;
its log goes to `server.log_path`.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from maestro_common.errors import FailedPrecondition, NotFound, Unavailable
from maestro_common.llm.llamacpp_client import default_threads


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _new_log_file(port: int) -> Path:
    fd, name = tempfile.mkstemp(prefix=f"llama-server-{port}-", suffix=".log")
    os.close(fd)
    return Path(name)


class LlamaServer:
    """A llama.cpp OpenAI-compatible server child process; a context manager."""

    def __init__(self, model_path: str | Path, *, host: str = "127.0.0.1", port: int = 0, n_ctx: int = 4096,
                 n_threads: int | None = None, model_alias: str | None = None, startup_timeout_s: float = 120.0,
                 log_path: str | Path | None = None, cache_bytes: int = 1 << 30):
        """Describe the server; nothing starts before `start()` or `with`.

        `port=0` picks a free port; `model_alias` is the model name the server answers to (default: the
        file name); `cache_bytes` bounds its prompt prefix cache (0 turns it off).
        """
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise NotFound(f"model file {self.model_path} does not exist")
        self.host = host
        self.port = port or free_port(host)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.model = model_alias or self.model_path.stem
        self.startup_timeout_s = startup_timeout_s
        self.cache_bytes = cache_bytes
        self.log_path = Path(log_path) if log_path else _new_log_file(self.port)
        self._process: subprocess.Popen | None = None

    request_defaults = {"repeat_penalty": 1.0}
    """Request fields that make this server sample as OpenAI and vLLM do (pass as `extra_body`)."""

    @property
    def base_url(self) -> str:
        """http://host:port (clients add /v1/...)."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server process id while it runs."""
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        """The command line that starts the server."""
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path),
                   "--model_alias", self.model, "--host", self.host, "--port", str(self.port),
                   "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
                   "--n_threads_batch", str(self.n_threads), "--verbose", "False"]
        if self.cache_bytes > 0:
            command += ["--cache", "True", "--cache_type", "ram", "--cache_size", str(self.cache_bytes)]
        return command

    def start(self) -> LlamaServer:
        """Start the process and wait until it serves /v1/models; Unavailable (log tail included) if not."""
        if self._process is not None:
            raise FailedPrecondition(f"the llama.cpp server on {self.base_url} is already started")
        if importlib.util.find_spec("llama_cpp") is None:
            raise FailedPrecondition("llama.cpp's server needs llama-cpp-python; install it: "
                                     "pip install 'llama-cpp-python[server]==0.3.36'")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise Unavailable(f"llama.cpp server exited with code {code} while starting; "
                                  f"log {self.log_path}:\n{self.log_tail()}")
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise Unavailable(f"llama.cpp server on {self.base_url} did not answer within {self.startup_timeout_s} s; "
                          f"log {self.log_path}:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the process this object started: SIGTERM, then SIGKILL after `timeout_s`."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout_s)

    def log_tail(self, n_bytes: int = 2000) -> str:
        """The end of the server's log."""
        try:
            return self.log_path.read_bytes()[-n_bytes:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/v1/models", timeout=1.0) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False
