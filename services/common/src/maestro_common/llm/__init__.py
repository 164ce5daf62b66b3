"""Language models for MaestroMotif: one client interface, embedded weights, a local OpenAI server.

    from maestro_common.llm import LlmConfig, make_client
    client = make_client(LlmConfig())            # the embedded Qwen2.5-Coder-1.5B, in process
    answer = client.chat([{"role": "user", "content": "..."}], max_tokens=64, top_logprobs=5)
"""

from maestro_common.llm.client import (
    Completion,
    LlamaCppClient,
    LlmClient,
    LlmConfig,
    OpenAICompatibleClient,
    TokenUsage,
    VllmEngineClient,
    make_client,
)
from maestro_common.llm.embedded import DEFAULT_EMBEDDED_MODEL, TINY_EMBEDDED_MODEL, embedded_model_path
from maestro_common.llm.server import LlamaServer

__all__ = ["DEFAULT_EMBEDDED_MODEL", "TINY_EMBEDDED_MODEL", "Completion", "LlamaCppClient", "LlamaServer",
           "LlmClient", "LlmConfig", "OpenAICompatibleClient", "TokenUsage", "VllmEngineClient",
           "embedded_model_path", "make_client"]
