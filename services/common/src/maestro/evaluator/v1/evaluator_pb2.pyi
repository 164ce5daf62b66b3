from maestro.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskMetric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_METRIC_UNSPECIFIED: _ClassVar[TaskMetric]
    TASK_METRIC_SUCCESS_RATE: _ClassVar[TaskMetric]
    TASK_METRIC_MEAN_COUNT: _ClassVar[TaskMetric]
TASK_METRIC_UNSPECIFIED: TaskMetric
TASK_METRIC_SUCCESS_RATE: TaskMetric
TASK_METRIC_MEAN_COUNT: TaskMetric

class Task(_message.Message):
    __slots__ = ("task_id", "title", "description", "metric", "check_description", "paper_value", "paper_baseline", "milestones")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    CHECK_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PAPER_VALUE_FIELD_NUMBER: _ClassVar[int]
    PAPER_BASELINE_FIELD_NUMBER: _ClassVar[int]
    MILESTONES_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    title: str
    description: str
    metric: TaskMetric
    check_description: str
    paper_value: float
    paper_baseline: float
    milestones: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, task_id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., metric: _Optional[_Union[TaskMetric, str]] = ..., check_description: _Optional[str] = ..., paper_value: _Optional[float] = ..., paper_baseline: _Optional[float] = ..., milestones: _Optional[_Iterable[str]] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    def __init__(self, tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ...) -> None: ...

class EvaluateTaskRequest(_message.Message):
    __slots__ = ("task_id", "task_text", "success_check", "skill_checkpoint", "policy", "episodes", "seeds", "seed", "llm", "include_baselines", "request_id", "skill_functions", "max_steps", "skill_turns", "num_envs")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_TEXT_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_CHECK_FIELD_NUMBER: _ClassVar[int]
    SKILL_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    LLM_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_BASELINES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SKILL_FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    SKILL_TURNS_FIELD_NUMBER: _ClassVar[int]
    NUM_ENVS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    task_text: str
    success_check: str
    skill_checkpoint: _common_pb2.ArtifactRef
    policy: _common_pb2.ArtifactRef
    episodes: int
    seeds: _containers.RepeatedScalarFieldContainer[int]
    seed: int
    llm: _common_pb2.LlmSettings
    include_baselines: bool
    request_id: str
    skill_functions: _common_pb2.ArtifactRef
    max_steps: int
    skill_turns: int
    num_envs: int
    def __init__(self, task_id: _Optional[str] = ..., task_text: _Optional[str] = ..., success_check: _Optional[str] = ..., skill_checkpoint: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., policy: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., episodes: _Optional[int] = ..., seeds: _Optional[_Iterable[int]] = ..., seed: _Optional[int] = ..., llm: _Optional[_Union[_common_pb2.LlmSettings, _Mapping]] = ..., include_baselines: _Optional[bool] = ..., request_id: _Optional[str] = ..., skill_functions: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., max_steps: _Optional[int] = ..., skill_turns: _Optional[int] = ..., num_envs: _Optional[int] = ...) -> None: ...

class EvaluateTaskResponse(_message.Message):
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
