"""llm-annotator settings (environment variables with the MAESTRO_ prefix)."""

from __future__ import annotations

from maestro_common.settings import settings_for


class AnnotatorSettings(settings_for("llm-annotator")):
    """Only the shared settings so far; LLM annotation adds its own here."""
