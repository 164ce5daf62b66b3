"""LlmClient over an in-process vLLM engine, for bulk annotation on a GPU node.

This backend needs `vllm` and a CUDA GPU; neither is part of the default install, and it is not
exercised by the test suite (which runs on CPU). Production normally runs `vllm serve` and talks to it
through `OpenAICompatibleClient`; this class only removes the HTTP hop when one process owns the GPU.
Prefix caching is switched on, so a shared prompt header is computed once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from maestro_common.errors import FailedPrecondition, InvalidArgument
from maestro_common.llm.completion import Completion, TokenUsage, UsageMeter


class VllmEngineClient:
    """An LlmClient over `vllm.LLM` (GPU only; untested here, see the module docstring)."""

    def __init__(self, model: str, *, max_model_len: int | None = None, seed: int = 0,
                 gpu_memory_utilization: float = 0.9):
        """Load `model` (a Hugging Face id or a local directory) into a vLLM engine."""
        try:
            import vllm
        except ImportError as error:
            raise FailedPrecondition(f"the 'vllm' backend needs the vllm package and a CUDA GPU ({error}); "
                                     f"install vllm on a GPU node, or use backend 'openai' against `vllm serve`"
                                     ) from error
        self.model = model
        self._vllm = vllm
        self._engine = vllm.LLM(model=model, max_model_len=max_model_len, seed=seed,
                                gpu_memory_utilization=gpu_memory_utilization, enable_prefix_caching=True)
        self._lock = threading.Lock()
        self._meter = UsageMeter()

    def chat(self, messages: list[dict], *, max_tokens: int, temperature: float = 0.0, seed: int | None = None,
             top_logprobs: int = 0, stop: list[str] | None = None) -> Completion:
        """Generate with the model's chat template."""
        params = self._params(max_tokens, temperature, seed, top_logprobs, stop)
        return self._run(lambda: self._engine.chat([messages], params, use_tqdm=False), top_logprobs)

    def complete(self, prompt: str, *, max_tokens: int, temperature: float = 0.0, seed: int | None = None,
                 top_logprobs: int = 0, stop: list[str] | None = None) -> Completion:
        """Continue a raw prompt."""
        params = self._params(max_tokens, temperature, seed, top_logprobs, stop)
        return self._run(lambda: self._engine.generate([prompt], params, use_tqdm=False), top_logprobs)

    def usage(self) -> TokenUsage:
        """Cumulative counters over every call of this client."""
        return self._meter.snapshot()

    def close(self) -> None:
        """Drop the engine (GPU memory is freed when it is collected)."""
        self._engine = None

    def _params(self, max_tokens: int, temperature: float, seed: int | None, top_logprobs: int,
                stop: list[str] | None) -> Any:
        if max_tokens < 1:
            raise InvalidArgument("max_tokens", f"must be at least 1, got {max_tokens}")
        return self._vllm.SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=seed,
                                         logprobs=top_logprobs or None, stop=stop or None)

    def _run(self, generate, top_logprobs: int) -> Completion:
        if self._engine is None:
            raise FailedPrecondition(f"the vLLM client for {self.model} is closed")
        self._meter.add(requests=1)
        started = time.perf_counter()
        try:
            with self._lock:
                result = generate()[0]
        except Exception:
            self._meter.add(failures=1)
            raise
        output = result.outputs[0]
        steps = [_top_k(position, top_logprobs) for position in (output.logprobs or [])]
        completion = Completion(output.text, output.finish_reason or "stop", len(result.prompt_token_ids or []),
                                len(output.token_ids), time.perf_counter() - started, self.model, steps)
        self._meter.add(prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens)
        return completion


def _top_k(position: dict, k: int) -> dict[str, float]:
    """vLLM's {token_id: Logprob} (top k plus the sampled token) -> the k best {text: logprob}."""
    best = sorted(position.values(), key=lambda lp: lp.logprob, reverse=True)[:k]
    return {lp.decoded_token: lp.logprob for lp in best}
