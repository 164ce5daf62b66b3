"""Reward models shared by the reward-trainer (trains them) and the skill-learner (scores with them).

- `model`: the network and its input encoding (`INPUT_SPEC_VERSION`);
- `shaping`: the one shaping function and the per-episode message counter;
- `bundle`: export to and load from the artifact store; `RewardBundle.score` is the scoring path;
- `training`: fitting one model per skill to preference labels.
"""

from maestro_common.reward.model import INPUT_SPEC_VERSION, RewardModel, depth_sign, encode_messages
from maestro_common.reward.shaping import EpisodeMessageCounter, ShapingParams, shape_rewards

__all__ = ["INPUT_SPEC_VERSION", "EpisodeMessageCounter", "RewardModel", "ShapingParams", "depth_sign",
           "encode_messages", "shape_rewards"]
