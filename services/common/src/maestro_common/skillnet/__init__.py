"""The skill-conditioned network (CDGPT5-style), its one input encoding, checkpoints and batched acting.

Public API (import from `maestro_common.skillnet`):

Inputs — ``encode_observations(obs_list, skill_indices) -> dict[str, np.ndarray]`` (the one input spec,
named by ``INPUT_SPEC_VERSION``), N observations (MaestroEnv / NLE dicts) to:
    "crop_chars"  uint8   [N, 12, 12]  tty_chars of the 12x12 window around the hero (hero at [6, 6];
                                       map row y is tty row y + 1; outside the screen: ' ')
    "crop_colors" uint8   [N, 12, 12]  tty_colors of the same cells (0..15)
    "stats"       float32 [N, 40]      27 normalised blstats (see `features.STAT_SCALES`; depth weight 0
                                       as in the reference) + 13 status-condition bits
    "message"     uint8   [N, 256]     the message bytes
    "skill"       int64   [N]          the active skill's index in `contract.SKILL_NAMES`
The 72x72 RGB image is rendered INSIDE the network from the crop codes (a glyph-atlas gather), so a
rollout ships 288 bytes of crop per step instead of 15.5 KB of pixels. ``INPUT_KEYS`` lists the keys.

Network — ``SkillNetConfig`` (frozen dataclass, docstring per field; ``to_json`` / ``from_json``) and
``SkillNetwork(config=SkillNetConfig())`` (torch ``nn.Module``, ~6.5M parameters by default):
    72x72 crop image -> conv net -> 512; stats + skill one-hot -> MLP 128 (raw vector concatenated too);
    message -> char-CNN -> 128; concat -> GRU 512 -> policy logits [num_actions=28] and a value.
    ``forward(inputs, core_state) -> (logits [T, B, A] float32, values [T, B] float32, new_state [B, 512])``
    over time-major [T, B, ...] tensors (the keys above, plus optional "episode_start": bool [T, B],
    True where a step begins a new episode: the GRU state is zeroed before that step; a skill switch
    is NOT an episode start — the caller carries the state across switches).
    ``initial_state(batch_size, device) -> zeros [B, 512]``; ``act_step(inputs [B, ...], state)`` is the
    single-step form (T = 1). ``inputs_to_tensors(encoded, device, time_major=False)`` turns the numpy
    dict into tensors. bf16: run under ``torch.autocast("cuda", dtype=torch.bfloat16)``; logits and
    values come back float32.

Checkpoints — ``save_checkpoint(store, network, meta, *, optimizer_state=None) -> ArtifactRef`` writes
the safetensors weights and (optionally) the optimizer state as artifacts, then a JSON manifest (the
returned ref) holding ``CheckpointMeta`` (skill names, input spec version, network config, env steps,
extra) and the refs; ``load_checkpoint(store, ref, device="cpu", *, skill_names=SKILL_NAMES,
input_spec_version=INPUT_SPEC_VERSION) -> (network, meta)`` raises ``FailedPrecondition`` when the
checkpoint was made for other skills or another input spec, ``CorruptArtifact`` on a bad hash;
``load_optimizer_state(store, meta) -> dict | None``.

Acting — ``SkillActor(network, device="cpu", num_envs=None)``: ``act(obs_list, skill_indices, greedy=False)
-> np.ndarray[int64]`` for N environments, one GRU state per env kept across calls (and across skill
switches); ``act_detailed(...) -> ActorOutput(actions, log_probs, logits, values)`` for learners that
need behaviour log-probabilities; ``reset_env(i)`` zeroes env i's state (call it when env i starts a
new episode); ``reset_all()``; ``state`` (the [N, 512] tensor); ``load_state_dict`` for weight sync.
"""

from maestro_common.skillnet.actor import ActorOutput, SkillActor
from maestro_common.skillnet.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointMeta,
    load_checkpoint,
    load_optimizer_state,
    save_checkpoint,
)
from maestro_common.skillnet.features import (
    CROP_SIZE,
    INPUT_KEYS,
    INPUT_SPEC_VERSION,
    MESSAGE_LENGTH,
    NUM_STATS,
    encode_observations,
)
from maestro_common.skillnet.network import SkillNetConfig, SkillNetwork, inputs_to_tensors

__all__ = ["CHECKPOINT_FORMAT", "CROP_SIZE", "INPUT_KEYS", "INPUT_SPEC_VERSION", "MESSAGE_LENGTH", "NUM_STATS",
           "ActorOutput", "CheckpointMeta", "SkillActor", "SkillNetConfig", "SkillNetwork", "encode_observations",
           "inputs_to_tensors", "load_checkpoint", "load_optimizer_state", "save_checkpoint"]
