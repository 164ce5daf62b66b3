from maestro.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JudgeMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JUDGE_MODE_UNSPECIFIED: _ClassVar[JudgeMode]
    JUDGE_MODE_PAIRWISE_COT: _ClassVar[JudgeMode]
    JUDGE_MODE_PAIRWISE_LOGPROB: _ClassVar[JudgeMode]
    JUDGE_MODE_POINTWISE_LOGPROB: _ClassVar[JudgeMode]
JUDGE_MODE_UNSPECIFIED: JudgeMode
JUDGE_MODE_PAIRWISE_COT: JudgeMode
JUDGE_MODE_PAIRWISE_LOGPROB: JudgeMode
JUDGE_MODE_POINTWISE_LOGPROB: JudgeMode

class AnnotateDatasetRequest(_message.Message):
    __slots__ = ("dataset", "skills", "num_pairs", "judge_mode", "llm", "snapshot_interval", "prompt_version", "tie_margin", "seed", "request_id")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    NUM_PAIRS_FIELD_NUMBER: _ClassVar[int]
    JUDGE_MODE_FIELD_NUMBER: _ClassVar[int]
    LLM_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIE_MARGIN_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    dataset: _common_pb2.ArtifactRef
    skills: _containers.RepeatedCompositeFieldContainer[_common_pb2.SkillSpec]
    num_pairs: int
    judge_mode: JudgeMode
    llm: _common_pb2.LlmSettings
    snapshot_interval: int
    prompt_version: str
    tie_margin: float
    seed: int
    request_id: str
    def __init__(self, dataset: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., skills: _Optional[_Iterable[_Union[_common_pb2.SkillSpec, _Mapping]]] = ..., num_pairs: _Optional[int] = ..., judge_mode: _Optional[_Union[JudgeMode, str]] = ..., llm: _Optional[_Union[_common_pb2.LlmSettings, _Mapping]] = ..., snapshot_interval: _Optional[int] = ..., prompt_version: _Optional[str] = ..., tie_margin: _Optional[float] = ..., seed: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class AnnotateDatasetResponse(_message.Message):
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
