"""The one LLM interface of MaestroMotif: pick a backend with an LlmConfig, get an LlmClient.

Backends, all answering with the same `Completion`:
- "embedded" (default): an embedded GGUF model (see `embedded.py`) in this process with llama.cpp;
- "openai": any OpenAI-compatible HTTP endpoint: `vllm serve` in production, llama.cpp's own server
  (`server.LlamaServer`), or a hosted API;
- "vllm": an in-process vLLM engine on a GPU node.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from maestro_common.errors import InvalidArgument
from maestro_common.llm.completion import Completion, LlmClient, TokenUsage
from maestro_common.llm.embedded import DEFAULT_EMBEDDED_MODEL, REGISTRY, embedded_model_path
from maestro_common.llm.llamacpp_client import LlamaCppClient
from maestro_common.llm.openai_client import OpenAICompatibleClient
from maestro_common.llm.vllm_client import VllmEngineClient

__all__ = ["Completion", "LlamaCppClient", "LlmClient", "LlmConfig", "OpenAICompatibleClient", "TokenUsage",
           "VllmEngineClient", "make_client"]

Backend = Literal["embedded", "openai", "vllm"]


@dataclass
class LlmConfig:
    """Which language model a service talks to, and how."""

    backend: Backend = "embedded"
    """One of: "embedded" (llama.cpp in this process), "openai" (an HTTP endpoint), "vllm" (in-process, GPU)."""
    model: str = DEFAULT_EMBEDDED_MODEL
    """An embedded model name (backend "embedded"), else the model name the server serves / vLLM loads."""
    base_url: str | None = None
    """Root URL of the OpenAI-compatible server, e.g. http://vllm:8000 (a trailing /v1 is accepted)."""
    api_key: str | None = None
    """Bearer token for the endpoint; None for servers that need none."""
    max_concurrency: int = 4
    """Most requests in flight at once to the endpoint."""
    timeout_s: float = 120.0
    """Seconds one HTTP attempt may take before it counts as failed (and is retried)."""
    max_retries: int = 4
    """Extra attempts after a connection error, a 429 or a 5xx, before Unavailable is raised."""
    extra_body: dict | None = None
    """Server-specific request fields for backend "openai" (e.g. LlamaServer.request_defaults)."""
    n_ctx: int = 4096
    """Context window in tokens (embedded; max model length for vllm)."""
    n_threads: int | None = None
    """CPU threads for the embedded model; None uses every CPU this process may run on."""
    cache_dir: Path | None = None
    """Where embedded models are assembled; None means $MAESTRO_HOME/models."""


def make_client(config: LlmConfig) -> LlmClient:
    """The LlmClient that `config` describes; raises a DomainError that says what to fix."""
    if config.backend == "embedded":
        if config.model not in REGISTRY:
            raise InvalidArgument("model", f"{config.model!r} is not an embedded model; choose one of "
                                           f"{sorted(REGISTRY)} or use backend 'openai'")
        path = embedded_model_path(config.model, config.cache_dir)
        return LlamaCppClient(path, n_ctx=config.n_ctx, n_threads=config.n_threads, model_name=config.model)
    if config.backend == "openai":
        if not config.base_url:
            raise InvalidArgument("base_url", "backend 'openai' needs the server's URL, e.g. http://vllm:8000")
        return OpenAICompatibleClient(config.base_url, config.model, api_key=config.api_key,
                                      max_concurrency=config.max_concurrency, timeout_s=config.timeout_s,
                                      max_retries=config.max_retries, extra_body=config.extra_body)
    if config.backend == "vllm":
        return VllmEngineClient(config.model, max_model_len=config.n_ctx)
    raise InvalidArgument("backend", f"{config.backend!r} is not one of 'embedded', 'openai', 'vllm'")
