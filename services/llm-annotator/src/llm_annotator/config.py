"""llm-annotator settings (environment variables with the MAESTRO_ prefix)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from maestro_common.llm.service_settings import LlmServiceSettings
from maestro_common.settings import settings_for


class AnnotatorSettings(settings_for("llm-annotator", LlmServiceSettings)):
    """The shared LLM settings (MAESTRO_LLM_*) plus the judge's defaults."""

    judge_mode: Literal["pointwise_logprob", "pairwise_logprob", "pairwise_cot"] = "pointwise_logprob"
    """Judge mode used when a request leaves it unspecified."""
    tie_margin: float = Field(default=0.03, ge=0, le=1)
    """Pointwise mode: default tie margin on P(yes)."""
