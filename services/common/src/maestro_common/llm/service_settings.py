"""LLM settings shared by the services that call a model (llm-annotator, codegen)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from maestro_common.llm.client import LlmConfig
from maestro_common.settings import ServiceSettings, maestro_home


class LlmServiceSettings(ServiceSettings):
    llm_backend: Literal["embedded", "openai", "vllm"] = "embedded"
    """Where answers come from: the embedded llama.cpp model, an OpenAI-compatible server (vLLM in
    production), or an in-process vLLM engine on a GPU node."""
    llm_model: str = "qwen2.5-coder-1.5b-instruct-q4_k_m"
    """Embedded model name, or the model name the OpenAI-compatible server serves."""
    llm_base_url: str = ""
    """Base URL of the OpenAI-compatible server (e.g. http://vllm:8000/v1); required with backend openai."""
    llm_api_key: str = ""
    """Bearer token for the OpenAI-compatible server, if it needs one."""
    llm_max_concurrency: int = Field(default=4, ge=1, le=256)
    """Requests in flight at once to the LLM."""
    llm_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    """Timeout of one LLM request."""
    llm_max_retries: int = Field(default=4, ge=0, le=20)
    """Retries (with backoff) on connection errors, 429 and 5xx before a job fails."""
    llm_n_ctx: int = Field(default=4096, ge=512, le=131072)
    """Embedded model: context window in tokens."""
    llm_n_threads: int = Field(default=0, ge=0, le=256)
    """Embedded model: CPU threads (0 = all cores)."""
    model_cache_dir: str = ""
    """Where embedded models are assembled and verified; default $MAESTRO_HOME/models."""

    def llm_config(self, *, base_url: str = "", model: str = "") -> LlmConfig:
        """The service's own LLM, or (with `base_url`) an OpenAI-compatible endpoint a request chose."""
        common = dict(api_key=self.llm_api_key or None, max_concurrency=self.llm_max_concurrency,
                      timeout_s=self.llm_timeout_s, max_retries=self.llm_max_retries, n_ctx=self.llm_n_ctx,
                      n_threads=self.llm_n_threads or None,
                      cache_dir=Path(self.model_cache_dir) if self.model_cache_dir else maestro_home() / "models")
        if base_url:
            return LlmConfig(backend="openai", model=model, base_url=base_url, **common)
        return LlmConfig(backend=self.llm_backend, model=self.llm_model, base_url=self.llm_base_url or None, **common)
