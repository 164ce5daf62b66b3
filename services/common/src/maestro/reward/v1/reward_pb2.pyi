from maestro.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RewardTrainingConfig(_message.Message):
    __slots__ = ("epochs", "batch_size", "learning_rate", "validation_fraction", "early_stop_patience", "seed", "device")
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FRACTION_FIELD_NUMBER: _ClassVar[int]
    EARLY_STOP_PATIENCE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    epochs: int
    batch_size: int
    learning_rate: float
    validation_fraction: float
    early_stop_patience: int
    seed: int
    device: str
    def __init__(self, epochs: _Optional[int] = ..., batch_size: _Optional[int] = ..., learning_rate: _Optional[float] = ..., validation_fraction: _Optional[float] = ..., early_stop_patience: _Optional[int] = ..., seed: _Optional[int] = ..., device: _Optional[str] = ...) -> None: ...

class TrainRewardModelsRequest(_message.Message):
    __slots__ = ("labels", "skills", "config", "threshold_quantiles", "request_id")
    class ThresholdQuantilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_QUANTILES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    labels: _common_pb2.ArtifactRef
    skills: _containers.RepeatedScalarFieldContainer[str]
    config: RewardTrainingConfig
    threshold_quantiles: _containers.ScalarMap[str, float]
    request_id: str
    def __init__(self, labels: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., skills: _Optional[_Iterable[str]] = ..., config: _Optional[_Union[RewardTrainingConfig, _Mapping]] = ..., threshold_quantiles: _Optional[_Mapping[str, float]] = ..., request_id: _Optional[str] = ...) -> None: ...

class TrainRewardModelsResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ...) -> None: ...

class RewardObservation(_message.Message):
    __slots__ = ("message", "depth_change", "episode_message_count")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DEPTH_CHANGE_FIELD_NUMBER: _ClassVar[int]
    EPISODE_MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    message: str
    depth_change: int
    episode_message_count: int
    def __init__(self, message: _Optional[str] = ..., depth_change: _Optional[int] = ..., episode_message_count: _Optional[int] = ...) -> None: ...

class ScoreRequest(_message.Message):
    __slots__ = ("reward_models", "skills", "observations", "input_spec_version")
    REWARD_MODELS_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    INPUT_SPEC_VERSION_FIELD_NUMBER: _ClassVar[int]
    reward_models: _common_pb2.ArtifactRef
    skills: _containers.RepeatedScalarFieldContainer[str]
    observations: _containers.RepeatedCompositeFieldContainer[RewardObservation]
    input_spec_version: str
    def __init__(self, reward_models: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., skills: _Optional[_Iterable[str]] = ..., observations: _Optional[_Iterable[_Union[RewardObservation, _Mapping]]] = ..., input_spec_version: _Optional[str] = ...) -> None: ...

class SkillRewards(_message.Message):
    __slots__ = ("skill", "raw", "shaped")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    SHAPED_FIELD_NUMBER: _ClassVar[int]
    skill: str
    raw: _containers.RepeatedScalarFieldContainer[float]
    shaped: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, skill: _Optional[str] = ..., raw: _Optional[_Iterable[float]] = ..., shaped: _Optional[_Iterable[float]] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("rewards",)
    REWARDS_FIELD_NUMBER: _ClassVar[int]
    rewards: _containers.RepeatedCompositeFieldContainer[SkillRewards]
    def __init__(self, rewards: _Optional[_Iterable[_Union[SkillRewards, _Mapping]]] = ...) -> None: ...

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
