"""`SkillNetwork`: the CDGPT5-style skill-conditioned actor-critic (see the package docstring).

    crop codes [12, 12] -> atlas gather -> 72x72 RGB -> conv net -> MLP 1024 -> 512 ──────┐
    stats [40] + skill one-hot [5] -> MLP -> 128 (and the raw 45 values) ─────────────────┤
    message bytes [256] -> embedding -> Conv1d stack -> global max -> 128 ────────────────┴-> GRU 512
    GRU 512 -> MLP 512 -> policy logits [28], value [1]

Time-major: every input is [T, B, ...]; the GRU state [B, 512] is the caller's, carried across
calls and skill switches; "episode_start" [T, B] (optional) zeroes it before a step that begins an
episode (the GRU then runs once per stretch of steps between episode starts, not step by step).
The GRU always runs in float32 (autocast is switched off around it), so the network can be run
under bf16 autocast on CUDA: the convolutions and linear layers take bf16, the recurrence stays
exact, and logits and values are returned in float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from torch import Tensor, nn

from maestro_common.errors import InvalidArgument
from maestro_common.nethack.actions import NUM_ACTIONS
from maestro_common.skillnet.atlas import CELL, PALETTE, glyph_atlas
from maestro_common.skillnet.features import CROP_SIZE, INPUT_KEYS, MESSAGE_LENGTH, NUM_SKILLS, NUM_STATS


@dataclass(frozen=True)
class SkillNetConfig:
    """Sizes of the skill network; stored in every checkpoint so a loader rebuilds the same network."""

    num_actions: int = NUM_ACTIONS
    """Policy outputs (the env's 28 actions)."""
    num_skills: int = NUM_SKILLS
    """Length of the skill one-hot input."""
    num_stats: int = NUM_STATS
    """Length of the normalised stats input."""
    crop_size: int = CROP_SIZE
    """Characters per side of the crop (rendered at 6x6 pixels each)."""
    conv_channels: tuple[int, ...] = (64, 128, 128)
    """Output channels of the screen convolutions."""
    conv_kernels: tuple[int, ...] = (8, 4, 3)
    """Kernel sizes of the screen convolutions."""
    conv_strides: tuple[int, ...] = (4, 2, 1)
    """Strides of the screen convolutions (72 -> 17 -> 7 -> 5)."""
    screen_hidden_dim: int = 1024
    """Width of the screen encoder's hidden layer (after the flattened convolutions)."""
    screen_dim: int = 512
    """Width of the screen encoder's output."""
    stats_dim: int = 128
    """Width of the stats + skill MLP."""
    message_embedding_dim: int = 32
    """Byte embedding of the message char-CNN."""
    message_channels: tuple[int, ...] = (64, 128, 128)
    """Channels of the message Conv1d stack."""
    message_kernels: tuple[int, ...] = (4, 4, 3)
    """Kernel sizes of the message Conv1d stack."""
    message_strides: tuple[int, ...] = (2, 2, 2)
    """Strides of the message Conv1d stack."""
    message_dim: int = 128
    """Width of the message encoder's output."""
    core_dim: int = 512
    """GRU hidden size."""
    head_dim: int = 512
    """Width of the MLP between the GRU and the two heads."""

    def __post_init__(self) -> None:
        for name in ("num_actions", "num_skills", "num_stats", "crop_size", "screen_hidden_dim", "screen_dim",
                     "stats_dim", "message_embedding_dim", "message_dim", "core_dim", "head_dim"):
            if getattr(self, name) <= 0:
                raise InvalidArgument(name, f"must be positive, got {getattr(self, name)}")
        if not len(self.conv_channels) == len(self.conv_kernels) == len(self.conv_strides):
            raise InvalidArgument("conv_channels", "conv_channels, conv_kernels and conv_strides differ in length")
        if not len(self.message_channels) == len(self.message_kernels) == len(self.message_strides):
            raise InvalidArgument("message_channels", "message channel, kernel and stride lists differ in length")

    def to_json(self) -> dict:
        """A JSON-able dict (tuples as lists)."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping) -> SkillNetConfig:
        """Inverse of `to_json`; unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidArgument("config", f"unknown SkillNetConfig keys {unknown}")
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


def _conv_out(size: int, kernels: tuple[int, ...], strides: tuple[int, ...]) -> int:
    for kernel, stride in zip(kernels, strides):
        size = (size - kernel) // stride + 1
    if size <= 0:
        raise InvalidArgument("config", "the convolution stack leaves no output; use smaller kernels or strides")
    return size


class SkillNetwork(nn.Module):
    """The skill-conditioned actor-critic; see the module docstring."""

    def __init__(self, config: SkillNetConfig | None = None):
        super().__init__()
        self.config = config = config or SkillNetConfig()
        # Rendering tables: part of the weights (persistent buffers), so a checkpoint renders as it trained.
        self.register_buffer("atlas", torch.from_numpy(glyph_atlas().copy()))
        self.register_buffer("palette", torch.from_numpy(PALETTE.copy()))

        layers: list[nn.Module] = []
        channels = 3
        for out, kernel, stride in zip(config.conv_channels, config.conv_kernels, config.conv_strides):
            layers += [nn.Conv2d(channels, out, kernel, stride), nn.ELU()]
            channels = out
        side = _conv_out(config.crop_size * CELL, config.conv_kernels, config.conv_strides)
        self.screen = nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * side * side, config.screen_hidden_dim),
                                    nn.ELU(), nn.Linear(config.screen_hidden_dim, config.screen_dim), nn.ELU())

        raw_dim = config.num_stats + config.num_skills
        self.stats = nn.Sequential(nn.Linear(raw_dim, config.stats_dim), nn.ELU(),
                                   nn.Linear(config.stats_dim, config.stats_dim), nn.ELU())

        self.message_embedding = nn.Embedding(256, config.message_embedding_dim)
        message_layers: list[nn.Module] = []
        channels = config.message_embedding_dim
        _conv_out(MESSAGE_LENGTH, config.message_kernels, config.message_strides)
        for out, kernel, stride in zip(config.message_channels, config.message_kernels, config.message_strides):
            message_layers += [nn.Conv1d(channels, out, kernel, stride), nn.ELU()]
            channels = out
        self.message_conv = nn.Sequential(*message_layers)
        self.message_out = nn.Sequential(nn.Linear(channels, config.message_dim), nn.ELU())

        core_in = config.screen_dim + config.stats_dim + raw_dim + config.message_dim
        self.core = nn.GRU(core_in, config.core_dim)
        self.head = nn.Sequential(nn.Linear(config.core_dim, config.head_dim), nn.ELU())
        self.policy = nn.Linear(config.head_dim, config.num_actions)
        self.value = nn.Linear(config.head_dim, 1)

    # -- pieces -----------------------------------------------------------------------------------

    def render(self, chars: Tensor, colors: Tensor) -> Tensor:
        """[N, 3, 72, 72] image of crop codes [N, 12, 12] (atlas bitmap tinted by the colour)."""
        n, rows, cols = chars.shape
        bitmap = self.atlas[chars.long()]                          # [N, r, c, 6, 6]
        tint = self.palette[colors.long().clamp(0, 15)]            # [N, r, c, 3]
        pixels = bitmap.unsqueeze(-1) * tint[:, :, :, None, None, :]  # [N, r, c, 6, 6, 3]
        return pixels.permute(0, 5, 1, 3, 2, 4).reshape(n, 3, rows * CELL, cols * CELL)

    def encode(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """[N, core input] features of flat [N, ...] inputs."""
        screen = self.screen(self.render(inputs["crop_chars"], inputs["crop_colors"]))
        one_hot = nn.functional.one_hot(inputs["skill"].long(), self.config.num_skills).to(screen.dtype)
        raw = torch.cat([inputs["stats"].to(screen.dtype), one_hot], dim=1)
        stats = self.stats(raw)
        message = self.message_embedding(inputs["message"].long()).transpose(1, 2)  # [N, E, L]
        message = self.message_out(self.message_conv(message).amax(dim=2))
        return torch.cat([screen, stats, raw, message], dim=1)

    # -- the API ----------------------------------------------------------------------------------

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> Tensor:
        """Zero GRU state [B, core_dim]."""
        return torch.zeros(batch_size, self.config.core_dim, device=device)

    def forward(self, inputs: Mapping[str, Tensor], core_state: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(logits [T, B, A], values [T, B], new state [B, core_dim]) of time-major inputs [T, B, ...]."""
        missing = [key for key in INPUT_KEYS if key not in inputs]
        if missing:
            raise InvalidArgument("inputs", f"missing keys {missing}; expected {INPUT_KEYS}")
        t, b = inputs["skill"].shape[:2]
        if core_state.shape != (b, self.config.core_dim):
            raise InvalidArgument("core_state", f"expected shape {(b, self.config.core_dim)}, got "
                                                f"{tuple(core_state.shape)}")
        flat = {key: inputs[key].reshape(t * b, *inputs[key].shape[2:]) for key in INPUT_KEYS}
        features = self.encode(flat).reshape(t, b, -1)
        starts = inputs.get("episode_start")
        with torch.autocast(device_type=features.device.type, enabled=False):
            features = features.float()
            state = core_state.float()
            if starts is None:
                outputs, last = self.core(features, state.unsqueeze(0))
                state = last.squeeze(0)
            else:
                # One GRU pass per stretch of steps without an episode start; at a stretch's first step
                # the state of the envs starting an episode is zeroed (exact, and few cuDNN calls).
                keep = (~starts.bool()).to(state.dtype).unsqueeze(-1)  # [T, B, 1]
                cuts = (starts.bool().any(dim=1).nonzero().flatten().tolist())
                bounds = sorted(set([0, *cuts, t]))
                pieces = []
                for begin, end in zip(bounds, bounds[1:]):
                    out, last = self.core(features[begin:end], (state * keep[begin]).unsqueeze(0))
                    state = last.squeeze(0)
                    pieces.append(out)
                outputs = torch.cat(pieces, dim=0)
        hidden = self.head(outputs)
        logits = self.policy(hidden).float()
        values = self.value(hidden).squeeze(-1).float()
        return logits, values, state

    def act_step(self, inputs: Mapping[str, Tensor], core_state: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Single step: (logits [B, A], values [B], new state) of inputs [B, ...]."""
        logits, values, state = self.forward({key: value.unsqueeze(0) for key, value in inputs.items()}, core_state)
        return logits[0], values[0], state


def inputs_to_tensors(encoded: Mapping[str, np.ndarray], device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """Torch tensors on `device` of `encode_observations` arrays (any leading shape kept)."""
    return {key: torch.as_tensor(np.ascontiguousarray(value)).to(device, non_blocking=True)
            for key, value in encoded.items()}


def parameter_count(network: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)
