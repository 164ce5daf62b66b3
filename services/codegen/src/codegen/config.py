"""codegen settings (environment variables with the MAESTRO_ prefix)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from maestro_common.llm.service_settings import LlmServiceSettings
from maestro_common.settings import settings_for


class CodegenSettings(settings_for("codegen", LlmServiceSettings)):
    """The shared LLM settings (MAESTRO_LLM_*) plus generation and sandbox defaults."""

    max_refinements: int = Field(default=3, ge=0, le=10)
    """Rewrites after the first attempt when a request gives 0."""
    generation_max_tokens: int = Field(default=1024, ge=64, le=8192)
    """Generation budget of one LLM answer."""
    max_code_chars: int = Field(default=20_000, ge=100, le=200_000)
    """Largest code or test accepted by RunTests and ValidateCode."""
    llm_n_ctx: int = Field(default=8192, ge=2048, le=131072)
    """Context window of the embedded model: a rewrite's prompt holds the original prompt (~2-3k tokens),
    the previous answer and the feedback, so codegen needs more than the judge."""
    sandbox_backend: Literal["local", "pod"] = "local"
    """Where generated code runs: "local" (a locked-down child process of this service) or "pod" (one
    locked-down pod per run in MAESTRO_SANDBOX_NAMESPACE, through the Kubernetes API)."""
    sandbox_namespace: str = ""
    """Namespace of the sandbox pods (sandbox_backend=pod): a dedicated one with the deny-all NetworkPolicy."""
    sandbox_image: str = ""
    """Image of the sandbox pods (sandbox_backend=pod): the codegen image (see k8s/cluster-execution.md)."""
    sandbox_runtime_class: str = ""
    """runtimeClassName of the sandbox pods, e.g. gvisor; empty = the cluster's default runtime."""

    @model_validator(mode="after")
    def _pod_sandbox_is_complete(self):
        if self.sandbox_backend == "pod" and not (self.sandbox_namespace and self.sandbox_image):
            raise ValueError("MAESTRO_SANDBOX_BACKEND=pod needs MAESTRO_SANDBOX_NAMESPACE and MAESTRO_SANDBOX_IMAGE")
        return self
