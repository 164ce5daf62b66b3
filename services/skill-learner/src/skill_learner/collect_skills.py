"""CollectDataset with COLLECTION_POLICY_SKILL_NETWORK: a trained skill network plays, pi_T picks skills.

The episodes of one shard are played in lock step, `num_envs` at a time, in this process: each
environment has its options runtime (the generated skill functions and pi_T of the request), and
one batched forward pass of the network (`skillnet.SkillActor`, one GRU state per environment,
kept across skill switches, zeroed at each new episode) picks every environment's action. Rows are
the same as for the random policy (`nethack.dataset.ObservationRows`), so both datasets read alike.
Episode seeds and pi_T's random numbers derive from the episode seed, and actions are sampled from
a generator seeded by the shard's first seed, so a shard is reproducible on one machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.generated import load_policy, load_skill_functions
from maestro_common.nethack.dataset import SOURCE_ROLLOUT, STATUS_COLUMNS, ObservationRows
from maestro_common.nethack.env import EnvConfig, MaestroEnv
from maestro_common.nethack.features import message_text
from skill_learner.inputs import read_code_artifact


class SkillNetworkPlayer:
    """Loaded network and code; `play` turns episode seeds into observation rows."""

    def __init__(self, store: ArtifactStore, checkpoint: ArtifactRef, skill_functions: ArtifactRef,
                 training_policy: ArtifactRef, *, skill_turns: int = 500, device: str = "cpu"):
        from maestro_common.skillnet import load_checkpoint

        self.network, self.meta = load_checkpoint(store, checkpoint, device=device)
        code = read_code_artifact(store, skill_functions, "skill_functions", "skill_functions").code
        policy = read_code_artifact(store, training_policy, "training_policy", "policy").code
        assert isinstance(code, dict) and isinstance(policy, str)
        self.skill_functions, self.policy = load_skill_functions(code), load_policy(policy)
        self.skill_turns, self.device = skill_turns, device

    def play(self, env_config: EnvConfig, seeds: Sequence[int], episode_ids: Sequence[str], num_envs: int,
             on_episode_done: Callable[[int], None] | None = None) -> pa.Table:
        from maestro_common.options import OptionsRuntime
        from maestro_common.skillnet import SkillActor

        rows = ObservationRows()
        indices = [index for _, index in STATUS_COLUMNS]
        envs = [MaestroEnv(env_config) for _ in range(min(num_envs, len(seeds)))]
        try:
            for start in range(0, len(seeds), len(envs)):
                batch = list(range(start, min(start + len(envs), len(seeds))))
                actor = SkillActor(self.network, self.device, num_envs=len(batch), seed=int(seeds[batch[0]]))
                observations, runtimes, skills, steps, buffers = [], [], [], [], []
                for slot, episode in enumerate(batch):
                    env = envs[slot]
                    obs = env.reset(int(seeds[episode]))
                    runtime = OptionsRuntime(self.skill_functions, self.policy, skill_turns=self.skill_turns,
                                             rng=np.random.default_rng(int(seeds[episode])),
                                             new_items_tracker=env.new_items_tracker)
                    skills.append(runtime.reset(obs))
                    runtimes.append(runtime)
                    observations.append(obs)
                    steps.append(0)
                    buffers.append(ObservationRows())
                    self._record(buffers[slot], episode_ids[episode], 0, int(seeds[episode]), obs, indices, False)
                live = set(range(len(batch)))
                while live:
                    actions = actor.act(observations, np.array(skills))
                    for slot in sorted(live):
                        env, episode = envs[slot], batch[slot]
                        obs, _, terminated, truncated, _ = env.step(int(actions[slot]))
                        steps[slot] += 1
                        done = terminated or truncated
                        self._record(buffers[slot], episode_ids[episode], steps[slot], int(seeds[episode]), obs,
                                     indices, done)
                        if done:
                            live.discard(slot)
                            if on_episode_done is not None:
                                on_episode_done(steps[slot])
                        else:
                            skills[slot] = runtimes[slot].step(obs)
                for buffer in buffers:
                    for name, values in buffer.columns.items():
                        rows.columns[name].extend(values)
        finally:
            for env in envs:
                env.close()
        return rows.table()

    @staticmethod
    def _record(rows: ObservationRows, episode_id: str, step: int, seed: int, obs, indices, done: bool) -> None:
        values = obs["blstats"].tolist()
        rows.add(episode_id, step, seed, message_text(obs), [values[i] for i in indices], done, SOURCE_ROLLOUT)
