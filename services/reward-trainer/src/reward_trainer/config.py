"""reward-trainer settings (environment variables with the MAESTRO_ prefix)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from maestro_common.settings import settings_for


class RewardTrainerSettings(settings_for("reward-trainer")):
    train_device: str = "auto"
    """Device for TrainRewardModels when a request names none: auto (cuda when available), cpu, cuda or cuda:N."""
    train_precision: Literal["fp32", "bf16"] = "fp32"
    """Training precision on CUDA: fp32, or bf16 autocast (weights stay fp32). The CPU always trains in fp32."""
    max_epochs: int = Field(default=1000, ge=1, le=100_000)
    """Most epochs one TrainRewardModels request may ask for."""
    max_batch_size: int = Field(default=65_536, ge=1, le=1_048_576)
    """Largest batch (pairs per step) one request may ask for."""
    score_device: str = "cpu"
    """Device the Score RPC runs the reward models on: cpu, cuda, cuda:N or auto."""
    score_precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Score precision on CUDA (fp32, or bf16/fp16 autocast); the CPU always scores in fp32."""
    score_max_observations: int = Field(default=65_536, ge=1, le=1_048_576)
    """Most observations one Score request may carry (also bounded by MAESTRO_MAX_MESSAGE_BYTES)."""
    score_batch_size: int = Field(default=8192, ge=1, le=1_048_576)
    """Observations per forward pass when scoring."""
    bundle_cache_size: int = Field(default=4, ge=1, le=256)
    """Loaded reward-model bundles kept in memory for Score (least recently used evicted first)."""
    torch_threads: int = Field(default=0, ge=0, le=1024)
    """CPU threads for torch (training and scoring on the CPU); 0 keeps torch's default (one per core)."""

    @field_validator("train_device", "score_device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
            return value
        raise ValueError(f"{value!r} is not a device; use auto, cpu, cuda or cuda:N")
