"""CollectDataset: play NLE with a policy on parallel environments and write Parquet shards.

Plain logic with no gRPC import. A job is split into shards of whole episodes; after each shard
is written (atomically, content-addressed) the job checkpoint records it, so a job killed
mid-run resumes at the next shard: no episode is lost or written twice. Episode seeds derive
from the base seed and the episode index, so a dataset is reproducible.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from maestro.skill_learner.v1 import skill_learner_pb2 as pb
from maestro_common.artifacts import ArtifactStore
from maestro_common.datasets import DatasetManifest, Shard, write_manifest, write_shard
from maestro_common.errors import InvalidArgument
from maestro_common.jobs.runner import JobContext
from maestro_common.nethack.dataset import collect_episodes
from maestro_common.nethack.env import EnvConfig
from maestro_common.validation import require_artifact, require_range

MAX_EPISODES = 100_000
MAX_EPISODE_STEPS = 10_000


@dataclass(frozen=True)
class CollectPlan:
    policy: str
    """Name of the policy that plays (see maestro_common.nethack.policies)."""
    episodes: int
    num_envs: int
    max_episode_steps: int
    episodes_per_shard: int
    seed: int
    network: dict | None = None
    """For the "skill-network" policy: the ArtifactRef dicts of skill_checkpoint, skill_functions and
    training_policy."""

    @property
    def num_shards(self) -> int:
        return -(-self.episodes // self.episodes_per_shard)

    def shard_episodes(self, shard: int) -> range:
        start = shard * self.episodes_per_shard
        return range(start, min(start + self.episodes_per_shard, self.episodes))


def plan_from_request(request: pb.CollectDatasetRequest, *, default_envs: int, max_envs: int) -> CollectPlan:
    """Validate a request and fill its defaults; InvalidArgument names the field at fault."""
    network = None
    if request.policy == pb.COLLECTION_POLICY_SKILL_NETWORK:
        network = {}
        for name in ("skill_checkpoint", "skill_functions", "training_policy"):
            ref = getattr(request, name)
            require_artifact(name, ref)
            network[name] = {"uri": ref.uri, "sha256": ref.sha256, "size_bytes": ref.size_bytes}
    elif request.policy != pb.COLLECTION_POLICY_RANDOM_MACRO:
        raise InvalidArgument("policy", "choose COLLECTION_POLICY_RANDOM_MACRO (or SKILL_NETWORK)")
    require_range("episodes", request.episodes, 1, MAX_EPISODES)
    require_range("num_envs", request.num_envs, 1, max_envs, zero_means="the service default")
    require_range("max_episode_steps", request.max_episode_steps, 1, MAX_EPISODE_STEPS, zero_means="10000")
    require_range("episodes_per_shard", request.episodes_per_shard, 1, 10_000, zero_means="one per environment")
    num_envs = min(request.num_envs or default_envs, request.episodes)
    return CollectPlan(
        policy="skill-network" if network else "random",
        network=network,
        episodes=request.episodes,
        num_envs=num_envs,
        max_episode_steps=request.max_episode_steps or MAX_EPISODE_STEPS,
        episodes_per_shard=request.episodes_per_shard or num_envs,
        seed=request.seed,
    )


def episode_seed(base_seed: int, index: int) -> int:
    """A 63-bit seed for episode `index`, independent of how the job was sharded or resumed."""
    digest = hashlib.blake2b(f"{base_seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def run_collection(ctx: JobContext, plan: CollectPlan, store: ArtifactStore) -> None:
    """Play the remaining shards of `plan`, checkpointing after each; then write the manifest."""
    env_config = EnvConfig(max_episode_steps=plan.max_episode_steps)
    player = _network_player(plan, store)
    shards = [Shard.from_json(s) for s in ctx.checkpoint.get("shards", [])]
    steps_done = sum(s.rows for s in shards)
    episodes_done = sum(s.episodes for s in shards)
    ctx.report_progress(episodes_done, plan.episodes, unit="episodes", stage="playing",
                        message=f"resuming at shard {len(shards) + 1}/{plan.num_shards}" if shards else "starting")
    for shard_index in range(len(shards), plan.num_shards):
        ctx.raise_if_cancelled()
        ctx.raise_if_stopping()
        indices = plan.shard_episodes(shard_index)
        on_episode_done = _episode_counter(ctx, plan, episodes_done, f"shard {shard_index + 1}/{plan.num_shards}")
        seeds = [episode_seed(plan.seed, i) for i in indices]
        episode_ids = [f"{plan.seed}-{i:06d}" for i in indices]
        if player is not None:
            table = player.play(env_config, seeds, episode_ids, plan.num_envs, on_episode_done)
        else:
            table = collect_episodes(env_config, plan.policy, seeds=seeds, episode_ids=episode_ids,
                                     num_workers=min(plan.num_envs, len(indices)), on_episode_done=on_episode_done)
        shard = write_shard(store, table, episodes=len(indices), name=f"shard-{shard_index:05d}.parquet")
        shards.append(shard)
        episodes_done += shard.episodes
        steps_done += shard.rows
        ctx.save_checkpoint({"shards": [s.to_json() for s in shards]})
        ctx.set_metrics({"episodes": episodes_done, "steps": steps_done, "shards": len(shards)})
        ctx.report_progress(episodes_done, plan.episodes, unit="episodes",
                            message=f"wrote shard {shard_index + 1}/{plan.num_shards} ({shard.rows} rows)")
    manifest = DatasetManifest(shards, source=f"nle-rollout:{plan.policy}",
                               details={"plan": asdict(plan), "env": asdict(env_config)})
    ctx.add_output("dataset", write_manifest(store, manifest))
    ctx.report_progress(plan.episodes, plan.episodes, unit="episodes", stage="done",
                        message=f"{manifest.episodes} episodes, {manifest.rows} steps in {len(shards)} shards")


def _network_player(plan: CollectPlan, store: ArtifactStore):
    """The loaded skill network and code for the "skill-network" policy (None for other policies).

    Artifacts that do not fit (a checkpoint of other skills or input spec, code failing validation)
    fail the job with FAILED_PRECONDITION before any episode is played.
    """
    if plan.network is None:
        return None
    from maestro_common.artifacts import ArtifactRef
    from skill_learner.collect_skills import SkillNetworkPlayer

    refs = {name: store.resolve(data["uri"], data["sha256"], uri_field=f"{name}.uri",
                                sha256_field=f"{name}.sha256") for name, data in plan.network.items()}
    assert all(isinstance(ref, ArtifactRef) for ref in refs.values())
    return SkillNetworkPlayer(store, refs["skill_checkpoint"], refs["skill_functions"], refs["training_policy"])


def _episode_counter(ctx: JobContext, plan: CollectPlan, already_done: int, label: str):
    """A callback that reports progress as each episode of a shard finishes."""
    finished = 0

    def on_episode_done(steps: int) -> None:
        nonlocal finished
        finished += 1
        ctx.report_progress(already_done + finished, plan.episodes, unit="episodes", message=label)

    return on_episode_done
