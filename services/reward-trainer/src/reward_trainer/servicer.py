"""Thin gRPC layer of the reward-trainer: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import numpy as np

from maestro.reward.v1 import reward_pb2 as pb
from maestro.reward.v1 import reward_pb2_grpc as pb_grpc
from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import FailedPrecondition, InvalidArgument
from maestro_common.job_rpcs import JobRpcs, job_to_proto
from maestro_common.reward.bundle import RewardBundle, load_bundle
from maestro_common.reward.model import INPUT_SPEC_VERSION
from maestro_common.runtime import ServiceContext
from maestro_common.validation import require_artifact, require_range, require_request_id, require_text
from reward_trainer.config import RewardTrainerSettings
from reward_trainer.metrics import RewardTrainerMetrics
from reward_trainer.plan import plan_from_request
from reward_trainer.train_job import TRAIN_REWARD_MODELS

MAX_MESSAGE_CHARS = 4096
"""Longest message accepted in a Score observation (the model reads its first 256 bytes)."""


class BundleCache:
    """Loaded bundles by sha256, least recently used evicted first."""

    def __init__(self, store: ArtifactStore, settings: RewardTrainerSettings, metrics: RewardTrainerMetrics):
        self.store, self.settings, self.metrics = store, settings, metrics
        self._bundles: OrderedDict[str, RewardBundle] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ref: ArtifactRef) -> RewardBundle:
        with self._lock:
            bundle = self._bundles.get(ref.sha256)
            if bundle is not None:
                self._bundles.move_to_end(ref.sha256)
                return bundle
        bundle = load_bundle(self.store, ref, input_spec_version=INPUT_SPEC_VERSION, device=self.settings.score_device,
                             precision=self.settings.score_precision, batch_size=self.settings.score_batch_size)
        self.metrics.bundle_loads.inc()
        with self._lock:
            self._bundles[ref.sha256] = bundle
            while len(self._bundles) > self.settings.bundle_cache_size:
                self._bundles.popitem(last=False)
        return bundle


def _observations(request: pb.ScoreRequest, limit: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    observations = request.observations
    if not observations:
        raise InvalidArgument("observations", "at least one observation is required")
    require_range("observations", len(observations), 1, limit)
    messages = [o.message for o in observations]
    for index, message in enumerate(messages):
        if len(message) > MAX_MESSAGE_CHARS:
            raise InvalidArgument(f"observations[{index}].message", f"{len(message)} characters is over the limit "
                                                                    f"of {MAX_MESSAGE_CHARS}")
    depth = np.fromiter((o.depth_change for o in observations), dtype=np.int64, count=len(observations))
    counts = np.fromiter((o.episode_message_count for o in observations), dtype=np.int64, count=len(observations))
    if (counts < 0).any():
        index = int(np.flatnonzero(counts < 0)[0])
        raise InvalidArgument(f"observations[{index}].episode_message_count",
                              f"{counts[index]} is negative; give how often the message occurred (0 means 1)")
    return messages, depth, np.maximum(counts, 1)


class RewardTrainerServicer(JobRpcs, pb_grpc.RewardServiceServicer):
    pb2 = pb

    def __init__(self, context: ServiceContext, metrics: RewardTrainerMetrics):
        self.context, self.jobs, self.settings = context, context.jobs, context.settings
        self.metrics = metrics
        self.bundles = BundleCache(context.artifacts, context.settings, metrics)

    def TrainRewardModels(self, request, context):
        plan_from_request(request, self.settings, self.context.artifacts)
        record = self.context.submit(TRAIN_REWARD_MODELS, request.SerializeToString(),
                                     request_id=require_request_id(request.request_id))
        return pb.TrainRewardModelsResponse(job=job_to_proto(record))

    def Score(self, request, context):
        started = time.perf_counter()
        require_artifact("reward_models", request.reward_models)
        require_text("input_spec_version", request.input_spec_version, max_len=128)
        for index, name in enumerate(request.skills):
            require_text(f"skills[{index}]", name, required=True, max_len=64)
        messages, depth, counts = _observations(request, self.settings.score_max_observations)
        if request.input_spec_version and request.input_spec_version != INPUT_SPEC_VERSION:
            raise FailedPrecondition(f"input_spec_version: the caller was built for {request.input_spec_version!r} "
                                     f"but this service's reward models read {INPUT_SPEC_VERSION!r}; use a matching "
                                     "release of the caller or of the service")
        store = self.context.artifacts
        ref = store.resolve(request.reward_models.uri, request.reward_models.sha256,
                            uri_field="reward_models.uri", sha256_field="reward_models.sha256")
        bundle = self.bundles.get(ref)
        results = bundle.score(bundle.check_skills(list(request.skills)), messages, depth, counts)
        response = pb.ScoreResponse(rewards=[
            pb.SkillRewards(skill=skill, raw=raw.tolist(), shaped=shaped.tolist())
            for skill, (raw, shaped) in results.items()
        ])
        for skill in results:
            self.metrics.observations_scored.labels(skill).inc(len(messages))
        self.metrics.score_seconds.observe(time.perf_counter() - started)
        return response
