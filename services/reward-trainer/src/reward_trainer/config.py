"""reward-trainer settings (environment variables with the MAESTRO_ prefix)."""

from __future__ import annotations

from maestro_common.settings import settings_for


class RewardTrainerSettings(settings_for("reward-trainer")):
    """Only the shared settings so far; reward-model training adds its own here."""
