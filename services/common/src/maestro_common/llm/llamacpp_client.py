"""LlmClient running a GGUF model in this process with llama-cpp-python.

One `llama_cpp.Llama` per client, used under a lock: the library is not thread-safe, and on a CPU a
second concurrent evaluation would only share the same cores anyway.

Prompt prefixes are reused twice over: llama.cpp keeps the last prompt's KV cache and evaluates only
the tokens after the common prefix, and a `LlamaRAMCache` keeps the states of earlier prompts so that
a prefix shared with any recent prompt (a few-shot header, a system prompt) is restored instead of
evaluated again.

Logprobs: llama-cpp-python computes them only for models created with `logits_all=True`, which keeps
the logits of every prompt position (n_ctx x n_vocab floats, 2.5 GB for Qwen's 152k vocabulary at
4096 context) and slows prompt evaluation. Instead the model is created without it, and a logits
processor that leaves the logits untouched records the top-k log-softmax at each generated position:
the same numbers, at the cost of one pass over the vocabulary per generated token.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from maestro_common.errors import FailedPrecondition, InvalidArgument, NotFound
from maestro_common.llm.completion import Completion, TokenUsage, UsageMeter, completion_from_response

DEFAULT_PREFIX_CACHE_BYTES = 1 << 30


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as error:
        raise FailedPrecondition(f"the embedded LLM backend needs llama-cpp-python ({error}); install it: "
                                 f"pip install 'llama-cpp-python[server]==0.3.36'") from error
    return llama_cpp


def default_threads() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class _TopLogprobRecorder:
    """A logits processor that changes nothing and records the top-k log-probabilities of each step."""

    def __init__(self, k: int, token_text):
        self.k = k
        self.token_text = token_text
        self.steps: list[dict[str, float]] = []

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        logits = np.asarray(scores, dtype=np.float32)
        peak = float(logits.max())
        log_norm = peak + float(np.log(np.exp(logits - peak).sum()))
        top = np.argpartition(logits, -self.k)[-self.k:]
        step: dict[str, float] = {}
        for token_id in top[np.argsort(-logits[top])]:
            step.setdefault(self.token_text(int(token_id)), float(logits[token_id]) - log_norm)
        self.steps.append(step)
        return scores


class LlamaCppClient:
    """An LlmClient over an in-process llama.cpp model (CPU by default)."""

    def __init__(self, model_path: str | Path, *, n_ctx: int = 4096, n_threads: int | None = None, seed: int = 0,
                 model_name: str | None = None, prefix_cache_bytes: int = DEFAULT_PREFIX_CACHE_BYTES,
                 n_batch: int = 512):
        """Load `model_path` (a verified GGUF file; see `embedded_model_path`).

        `model_name` is what `Completion.model` reports (default: the file name); `prefix_cache_bytes`
        bounds the RAM kept for earlier prompts' states (0 turns that cache off).
        """
        path = Path(model_path)
        if not path.is_file():
            raise NotFound(f"model file {path} does not exist")
        llama_cpp = _import_llama_cpp()
        threads = n_threads or default_threads()
        self.model = model_name or path.stem
        self.model_path = path
        self._llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_batch, n_threads=threads,
                                    n_threads_batch=threads, seed=seed, logits_all=False, verbose=False)
        # Without logits_all llama-cpp-python never writes `scores` (n_batch x n_vocab floats, 311 MB for
        # Qwen), yet save_state/load_state copy and scan n_tokens rows of it on every cached call: 0.5-1 s
        # and ~200 MB per cache entry that the cache's capacity does not count. One row keeps every read valid.
        self._llm.scores = np.zeros((1, self._llm.n_vocab()), dtype=np.single)
        if prefix_cache_bytes > 0:
            self._llm.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=prefix_cache_bytes))
        self._logits_processors = llama_cpp.LogitsProcessorList
        self._lock = threading.Lock()
        self._meter = UsageMeter()

    def chat(self, messages: list[dict], *, max_tokens: int, temperature: float = 0.0, seed: int | None = None,
             top_logprobs: int = 0, stop: list[str] | None = None) -> Completion:
        """Apply the model's chat template and generate."""
        if not messages:
            raise InvalidArgument("messages", "must hold at least one message")
        return self._run(True, max_tokens, top_logprobs, messages=messages, temperature=temperature,
                         seed=seed, stop=stop)

    def complete(self, prompt: str, *, max_tokens: int, temperature: float = 0.0, seed: int | None = None,
                 top_logprobs: int = 0, stop: list[str] | None = None) -> Completion:
        """Continue `prompt` as raw text."""
        return self._run(False, max_tokens, top_logprobs, prompt=prompt, temperature=temperature,
                         seed=seed, stop=stop)

    def usage(self) -> TokenUsage:
        """Cumulative counters over every call of this client."""
        return self._meter.snapshot()

    def close(self) -> None:
        """Free the model's memory; later calls raise FailedPrecondition."""
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def _run(self, chat: bool, max_tokens: int, top_logprobs: int, **request: Any) -> Completion:
        if max_tokens < 1:
            raise InvalidArgument("max_tokens", f"must be at least 1, got {max_tokens}")
        if top_logprobs < 0:
            raise InvalidArgument("top_logprobs", f"must be 0 or more, got {top_logprobs}")
        self._meter.add(requests=1)
        started = time.perf_counter()
        try:
            with self._lock:
                if self._llm is None:
                    raise FailedPrecondition(f"the LLM client for {self.model_path} is closed")
                recorder = _TopLogprobRecorder(top_logprobs, self._token_text) if top_logprobs else None
                processors = self._logits_processors([recorder]) if recorder else None
                create = self._llm.create_chat_completion if chat else self._llm.create_completion
                try:
                    body = create(max_tokens=max_tokens, stop=request.pop("stop") or [],
                                  logits_processor=processors, **request)
                except ValueError as error:  # e.g. the prompt does not fit the context window
                    raise InvalidArgument("messages" if chat else "prompt", str(error)) from error
        except Exception:
            self._meter.add(failures=1)
            raise
        completion = completion_from_response(body, latency_s=time.perf_counter() - started, chat=chat,
                                              default_model=self.model)
        steps = recorder.steps[: completion.completion_tokens] if recorder else []
        completion = Completion(completion.text, completion.finish_reason, completion.prompt_tokens,
                                completion.completion_tokens, completion.latency_s, self.model, steps)
        self._meter.add(prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens)
        return completion

    def _token_text(self, token_id: int) -> str:
        return self._llm.detokenize([token_id]).decode("utf-8", errors="ignore")
