"""evaluator settings (environment variables with the MAESTRO_ prefix)."""

from __future__ import annotations

from maestro_common.settings import settings_for


class EvaluatorSettings(settings_for("evaluator")):
    """Only the shared settings so far; task evaluation adds its own here."""
