"""The per-skill reward model: a char-CNN over the current message plus the depth-change sign.

What the model sees of an observation is fixed by `INPUT_SPEC_VERSION`: the current game message
as UTF-8 bytes (first `MESSAGE_BYTES`, zero-padded) and the sign of the depth change (-1, 0, +1).
Every other part of the observation is ignored. A bundle records the version it was trained
with, and a loader built for another version refuses it.

    message bytes [N, 256] -> embedding 32 -> Conv1d stack -> global max -> 128 ─┐
    depth sign    [N]      -> embedding 8 -> MLP -> 32 ──────────────────────────┴─> MLP -> scalar
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

INPUT_SPEC_VERSION = "msg256-depthsign-v1"
"""Names what the model reads; bump it whenever encoding or inputs change."""
MESSAGE_BYTES = 256
"""Bytes of the message the model reads (longer messages are cut, shorter ones zero-padded)."""


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the reward model; stored in every bundle so a loader builds the same network."""

    embedding_dim: int = 32
    conv_channels: tuple[int, ...] = (64, 64, 128)
    conv_kernels: tuple[int, ...] = (4, 4, 3)
    conv_strides: tuple[int, ...] = (2, 2, 2)
    message_dim: int = 128
    depth_dim: int = 32
    hidden_dim: int = 128

    def to_json(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> ModelConfig:
        fields = {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}
        return cls(**fields)


def encode_messages(messages: Sequence[str], length: int = MESSAGE_BYTES) -> torch.Tensor:
    """UTF-8 bytes of each message, cut or zero-padded to `length`: a uint8 tensor [N, length].

    The model turns it into indices itself; uint8 keeps big datasets at one byte per character.
    """
    out = np.zeros((len(messages), length), dtype=np.uint8)
    for row, message in enumerate(messages):
        data = message.encode("utf-8", errors="replace")[:length]
        if data:
            out[row, :len(data)] = np.frombuffer(data, dtype=np.uint8)
    return torch.from_numpy(out)


def depth_sign(depth_changes: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
    """The sign of each depth change, -1, 0 or +1, as an int8 tensor [N]."""
    if isinstance(depth_changes, torch.Tensor):
        return torch.sign(depth_changes).to(torch.int8)
    values = np.asarray(depth_changes, dtype=np.int64).reshape(-1)
    return torch.from_numpy(np.sign(values).astype(np.int8))


class RewardModel(nn.Module):
    """Scalar reward of (message bytes, depth sign); `forward` returns a float tensor [N]."""

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config = config or ModelConfig()
        self.byte_embedding = nn.Embedding(256, config.embedding_dim)
        layers: list[nn.Module] = []
        channels = config.embedding_dim
        for out_channels, kernel, stride in zip(config.conv_channels, config.conv_kernels, config.conv_strides):
            layers += [nn.Conv1d(channels, out_channels, kernel, stride=stride), nn.ReLU()]
            channels = out_channels
        self.convs = nn.Sequential(*layers)
        self.message_head = nn.Sequential(nn.Linear(channels, config.message_dim), nn.ReLU())
        self.depth_embedding = nn.Embedding(3, 8)
        self.depth_mlp = nn.Sequential(nn.Linear(8, config.depth_dim), nn.ReLU())
        self.trunk = nn.Sequential(
            nn.Linear(config.message_dim + config.depth_dim, config.hidden_dim), nn.ReLU(),
            nn.Linear(config.hidden_dim, 1),
        )

    def forward(self, message_bytes: torch.Tensor, depth_signs: torch.Tensor,
                message_index: torch.Tensor | None = None) -> torch.Tensor:
        """Rewards [N]. With `message_index` [N], `message_bytes` holds distinct messages [U, L] and
        observation i reads row message_index[i] (each distinct message goes through the CNN once)."""
        x = self.byte_embedding(message_bytes.long()).transpose(1, 2)  # [N, E, L]
        x = self.convs(x).amax(dim=2)  # global max over positions
        message = self.message_head(x)
        if message_index is not None:
            message = message[message_index]
        depth = self.depth_mlp(self.depth_embedding(depth_signs.long() + 1))
        return self.trunk(torch.cat([message, depth], dim=1)).squeeze(1)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """"auto"/""/None -> cuda when available, else cpu; otherwise the named device."""
    if device is None or str(device) in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@torch.inference_mode()
def predict(model: RewardModel, message_bytes: torch.Tensor, depth_signs: torch.Tensor, *,
            batch_size: int = 8192, precision: str = "fp32") -> np.ndarray:
    """Raw rewards as float32 numpy [N], in batches, on the model's device.

    `precision` "bf16" or "fp16" runs the network under autocast on CUDA (ignored on the CPU).
    """
    device = next(model.parameters()).device
    n = int(message_bytes.shape[0])
    out = torch.empty(n, dtype=torch.float32, device=device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    use_amp = dtype is not None and device.type == "cuda"
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        tokens = message_bytes[start:stop].to(device, non_blocking=True)
        signs = depth_signs[start:stop].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=use_amp):
            out[start:stop] = model(tokens, signs).float()
    return out.cpu().numpy()
