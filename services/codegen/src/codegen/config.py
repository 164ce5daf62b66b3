"""codegen settings (environment variables with the MAESTRO_ prefix)."""

from __future__ import annotations

from pydantic import Field

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
    """Context window of the embedded model: a generation's transcript grows with each rewrite (the
    prompt alone is ~2k tokens), so codegen needs more than the judge."""
