from maestro.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CollectionPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLLECTION_POLICY_UNSPECIFIED: _ClassVar[CollectionPolicy]
    COLLECTION_POLICY_RANDOM_MACRO: _ClassVar[CollectionPolicy]
    COLLECTION_POLICY_SKILL_NETWORK: _ClassVar[CollectionPolicy]
COLLECTION_POLICY_UNSPECIFIED: CollectionPolicy
COLLECTION_POLICY_RANDOM_MACRO: CollectionPolicy
COLLECTION_POLICY_SKILL_NETWORK: CollectionPolicy

class CollectDatasetRequest(_message.Message):
    __slots__ = ("policy", "skill_checkpoint", "episodes", "num_envs", "max_episode_steps", "episodes_per_shard", "seed", "request_id", "skill_functions", "training_policy")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    SKILL_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    NUM_ENVS_FIELD_NUMBER: _ClassVar[int]
    MAX_EPISODE_STEPS_FIELD_NUMBER: _ClassVar[int]
    EPISODES_PER_SHARD_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SKILL_FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: CollectionPolicy
    skill_checkpoint: _common_pb2.ArtifactRef
    episodes: int
    num_envs: int
    max_episode_steps: int
    episodes_per_shard: int
    seed: int
    request_id: str
    skill_functions: _common_pb2.ArtifactRef
    training_policy: _common_pb2.ArtifactRef
    def __init__(self, policy: _Optional[_Union[CollectionPolicy, str]] = ..., skill_checkpoint: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., episodes: _Optional[int] = ..., num_envs: _Optional[int] = ..., max_episode_steps: _Optional[int] = ..., episodes_per_shard: _Optional[int] = ..., seed: _Optional[int] = ..., request_id: _Optional[str] = ..., skill_functions: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., training_policy: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ...) -> None: ...

class CollectDatasetResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ...) -> None: ...

class SkillTrainingConfig(_message.Message):
    __slots__ = ("env_steps", "num_envs", "rollout_length", "batch_size", "learning_rate", "gamma", "clip", "entropy_coef", "value_coef", "max_grad_norm", "extrinsic_coef", "checkpoint_every", "keep_checkpoints", "seed", "device", "env_runners", "skill_turns", "max_episode_steps", "precision")
    ENV_STEPS_FIELD_NUMBER: _ClassVar[int]
    NUM_ENVS_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    GAMMA_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_COEF_FIELD_NUMBER: _ClassVar[int]
    VALUE_COEF_FIELD_NUMBER: _ClassVar[int]
    MAX_GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    EXTRINSIC_COEF_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_EVERY_FIELD_NUMBER: _ClassVar[int]
    KEEP_CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    ENV_RUNNERS_FIELD_NUMBER: _ClassVar[int]
    SKILL_TURNS_FIELD_NUMBER: _ClassVar[int]
    MAX_EPISODE_STEPS_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    env_steps: int
    num_envs: int
    rollout_length: int
    batch_size: int
    learning_rate: float
    gamma: float
    clip: float
    entropy_coef: float
    value_coef: float
    max_grad_norm: float
    extrinsic_coef: float
    checkpoint_every: int
    keep_checkpoints: int
    seed: int
    device: str
    env_runners: int
    skill_turns: int
    max_episode_steps: int
    precision: str
    def __init__(self, env_steps: _Optional[int] = ..., num_envs: _Optional[int] = ..., rollout_length: _Optional[int] = ..., batch_size: _Optional[int] = ..., learning_rate: _Optional[float] = ..., gamma: _Optional[float] = ..., clip: _Optional[float] = ..., entropy_coef: _Optional[float] = ..., value_coef: _Optional[float] = ..., max_grad_norm: _Optional[float] = ..., extrinsic_coef: _Optional[float] = ..., checkpoint_every: _Optional[int] = ..., keep_checkpoints: _Optional[int] = ..., seed: _Optional[int] = ..., device: _Optional[str] = ..., env_runners: _Optional[int] = ..., skill_turns: _Optional[int] = ..., max_episode_steps: _Optional[int] = ..., precision: _Optional[str] = ...) -> None: ...

class TrainSkillsRequest(_message.Message):
    __slots__ = ("reward_models", "skill_functions", "training_policy", "config", "resume_from", "request_id")
    REWARD_MODELS_FIELD_NUMBER: _ClassVar[int]
    SKILL_FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_POLICY_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    RESUME_FROM_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    reward_models: _common_pb2.ArtifactRef
    skill_functions: _common_pb2.ArtifactRef
    training_policy: _common_pb2.ArtifactRef
    config: SkillTrainingConfig
    resume_from: _common_pb2.ArtifactRef
    request_id: str
    def __init__(self, reward_models: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., skill_functions: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., training_policy: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., config: _Optional[_Union[SkillTrainingConfig, _Mapping]] = ..., resume_from: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class TrainSkillsResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WatchJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("query",)
    QUERY_FIELD_NUMBER: _ClassVar[int]
    query: _common_pb2.JobQuery
    def __init__(self, query: _Optional[_Union[_common_pb2.JobQuery, _Mapping]] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[_common_pb2.Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
