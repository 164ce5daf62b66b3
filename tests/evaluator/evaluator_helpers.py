"""Hand-written code artifacts and small checkpoints for evaluator tests (no LLM needed)."""

from __future__ import annotations

import torch

from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.generated.artifact import code_artifact
from maestro_common.skillnet import SkillNetConfig, SkillNetwork, save_checkpoint
from maestro_common.skillnet.checkpoint import CheckpointMeta

SMALL_NETWORK = SkillNetConfig(conv_channels=(8, 8, 8), screen_hidden_dim=32, screen_dim=32, stats_dim=16,
                               message_channels=(8, 8, 8), message_dim=16, core_dim=64, head_dim=32)
"""A small network so service tests play quickly on two cores."""

SKILL_FUNCTIONS = {
    "Discoverer": "def initiation(ctx):\n    return True\n\n"
                  "def termination(ctx):\n    return ctx.turns_since_skill_start >= ctx.skill_turns\n",
    "Descender": "def initiation(ctx):\n    return True\n\n"
                 "def termination(ctx):\n    return ctx.now.depth > ctx.at_skill_start.depth\n",
    "Ascender": "def initiation(ctx):\n    return True\n\n"
                "def termination(ctx):\n    return ctx.now.depth < ctx.at_skill_start.depth\n",
    "Worshipper": "def initiation(ctx):\n    return ctx.worshipper_precondition\n\n"
                  "def termination(ctx):\n    return ctx.turns_since_skill_start >= 20 * ctx.skill_turns\n",
    "Merchant": "def initiation(ctx):\n    return ctx.merchant_precondition\n\n"
                "def termination(ctx):\n    return ctx.turns_since_skill_start >= 20 * ctx.skill_turns\n",
}

MINES_POLICY = """
def select_skill(ctx, available, state):
    if ctx.now.branch == "Gnomish Mines":
        return "Discoverer"
    if ctx.active_skill == "Discoverer" and "Descender" in available:
        return "Descender"
    return "Discoverer"
"""
"""A hand-written task policy for the Gnomish Mines: explore, go down, repeat."""


def put_code(store: ArtifactStore, role: str, code) -> ArtifactRef:
    artifact = code_artifact(role, code, model="hand-written", prompt_version="test", tests="", transcript=[])
    return store.put_json(artifact, name=f"{role}.json")


def put_checkpoint(store: ArtifactStore, *, skill_names=None, seed: int = 0, extra: dict | None = None) -> ArtifactRef:
    """A small fresh network as a checkpoint; `extra` goes into its metadata (as the skill-learner's does)."""
    torch.manual_seed(seed)
    network = SkillNetwork(SMALL_NETWORK)
    names = {} if skill_names is None else {"skill_names": tuple(skill_names)}
    return save_checkpoint(store, network, CheckpointMeta(**names, extra=extra or {}))
