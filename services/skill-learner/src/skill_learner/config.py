"""skill-learner settings (environment variables with the MAESTRO_ prefix)."""

from __future__ import annotations

import os

from pydantic import Field

from maestro_common.settings import settings_for


class SkillLearnerSettings(settings_for("skill-learner")):
    collect_num_envs: int = Field(default=max(1, os.cpu_count() or 1), ge=1, le=256)
    """Parallel environments (worker processes) for CollectDataset when a request gives 0."""
    collect_max_envs: int = Field(default=64, ge=1, le=256)
    """Most environments one CollectDataset job may ask for on this replica."""
