from maestro.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PolicyKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POLICY_KIND_UNSPECIFIED: _ClassVar[PolicyKind]
    POLICY_KIND_TRAINING: _ClassVar[PolicyKind]
    POLICY_KIND_TASK: _ClassVar[PolicyKind]

class CodeRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CODE_ROLE_UNSPECIFIED: _ClassVar[CodeRole]
    CODE_ROLE_SKILL_FUNCTIONS: _ClassVar[CodeRole]
    CODE_ROLE_POLICY: _ClassVar[CodeRole]

class LimitHit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIMIT_HIT_UNSPECIFIED: _ClassVar[LimitHit]
    LIMIT_HIT_NONE: _ClassVar[LimitHit]
    LIMIT_HIT_CPU: _ClassVar[LimitHit]
    LIMIT_HIT_WALL: _ClassVar[LimitHit]
    LIMIT_HIT_MEMORY: _ClassVar[LimitHit]
    LIMIT_HIT_OUTPUT: _ClassVar[LimitHit]
    LIMIT_HIT_FILE_SIZE: _ClassVar[LimitHit]
POLICY_KIND_UNSPECIFIED: PolicyKind
POLICY_KIND_TRAINING: PolicyKind
POLICY_KIND_TASK: PolicyKind
CODE_ROLE_UNSPECIFIED: CodeRole
CODE_ROLE_SKILL_FUNCTIONS: CodeRole
CODE_ROLE_POLICY: CodeRole
LIMIT_HIT_UNSPECIFIED: LimitHit
LIMIT_HIT_NONE: LimitHit
LIMIT_HIT_CPU: LimitHit
LIMIT_HIT_WALL: LimitHit
LIMIT_HIT_MEMORY: LimitHit
LIMIT_HIT_OUTPUT: LimitHit
LIMIT_HIT_FILE_SIZE: LimitHit

class GenerateSkillFunctionsRequest(_message.Message):
    __slots__ = ("skills", "llm", "prompt_version", "max_refinements", "request_id")
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    LLM_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_REFINEMENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    skills: _containers.RepeatedCompositeFieldContainer[_common_pb2.SkillSpec]
    llm: _common_pb2.LlmSettings
    prompt_version: str
    max_refinements: int
    request_id: str
    def __init__(self, skills: _Optional[_Iterable[_Union[_common_pb2.SkillSpec, _Mapping]]] = ..., llm: _Optional[_Union[_common_pb2.LlmSettings, _Mapping]] = ..., prompt_version: _Optional[str] = ..., max_refinements: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class GenerateSkillFunctionsResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ...) -> None: ...

class GeneratePolicyRequest(_message.Message):
    __slots__ = ("kind", "task", "skills", "strategy_hints", "skill_functions", "llm", "prompt_version", "max_refinements", "request_id", "golden_suite")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_HINTS_FIELD_NUMBER: _ClassVar[int]
    SKILL_FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    LLM_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_REFINEMENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    GOLDEN_SUITE_FIELD_NUMBER: _ClassVar[int]
    kind: PolicyKind
    task: str
    skills: _containers.RepeatedCompositeFieldContainer[_common_pb2.SkillSpec]
    strategy_hints: _containers.RepeatedScalarFieldContainer[str]
    skill_functions: _common_pb2.ArtifactRef
    llm: _common_pb2.LlmSettings
    prompt_version: str
    max_refinements: int
    request_id: str
    golden_suite: str
    def __init__(self, kind: _Optional[_Union[PolicyKind, str]] = ..., task: _Optional[str] = ..., skills: _Optional[_Iterable[_Union[_common_pb2.SkillSpec, _Mapping]]] = ..., strategy_hints: _Optional[_Iterable[str]] = ..., skill_functions: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., llm: _Optional[_Union[_common_pb2.LlmSettings, _Mapping]] = ..., prompt_version: _Optional[str] = ..., max_refinements: _Optional[int] = ..., request_id: _Optional[str] = ..., golden_suite: _Optional[str] = ...) -> None: ...

class GeneratePolicyResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ...) -> None: ...

class SandboxLimits(_message.Message):
    __slots__ = ("cpu_seconds", "wall_seconds", "memory_bytes", "output_bytes", "file_bytes")
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILE_BYTES_FIELD_NUMBER: _ClassVar[int]
    cpu_seconds: float
    wall_seconds: float
    memory_bytes: int
    output_bytes: int
    file_bytes: int
    def __init__(self, cpu_seconds: _Optional[float] = ..., wall_seconds: _Optional[float] = ..., memory_bytes: _Optional[int] = ..., output_bytes: _Optional[int] = ..., file_bytes: _Optional[int] = ...) -> None: ...

class RunTestsRequest(_message.Message):
    __slots__ = ("code", "role", "test_code", "limits")
    CODE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TEST_CODE_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    code: str
    role: CodeRole
    test_code: str
    limits: SandboxLimits
    def __init__(self, code: _Optional[str] = ..., role: _Optional[_Union[CodeRole, str]] = ..., test_code: _Optional[str] = ..., limits: _Optional[_Union[SandboxLimits, _Mapping]] = ...) -> None: ...

class RunTestsResponse(_message.Message):
    __slots__ = ("passed", "exit_status", "stdout", "stderr", "wall_seconds", "cpu_seconds", "limit_hit", "issues")
    PASSED_FIELD_NUMBER: _ClassVar[int]
    EXIT_STATUS_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_HIT_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    passed: bool
    exit_status: int
    stdout: str
    stderr: str
    wall_seconds: float
    cpu_seconds: float
    limit_hit: LimitHit
    issues: _containers.RepeatedCompositeFieldContainer[ValidationIssue]
    def __init__(self, passed: _Optional[bool] = ..., exit_status: _Optional[int] = ..., stdout: _Optional[str] = ..., stderr: _Optional[str] = ..., wall_seconds: _Optional[float] = ..., cpu_seconds: _Optional[float] = ..., limit_hit: _Optional[_Union[LimitHit, str]] = ..., issues: _Optional[_Iterable[_Union[ValidationIssue, _Mapping]]] = ...) -> None: ...

class ValidateCodeRequest(_message.Message):
    __slots__ = ("code", "role")
    CODE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    code: str
    role: CodeRole
    def __init__(self, code: _Optional[str] = ..., role: _Optional[_Union[CodeRole, str]] = ...) -> None: ...

class ValidationIssue(_message.Message):
    __slots__ = ("line", "column", "message")
    LINE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    line: int
    column: int
    message: str
    def __init__(self, line: _Optional[int] = ..., column: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class ValidateCodeResponse(_message.Message):
    __slots__ = ("valid", "issues")
    VALID_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    issues: _containers.RepeatedCompositeFieldContainer[ValidationIssue]
    def __init__(self, valid: _Optional[bool] = ..., issues: _Optional[_Iterable[_Union[ValidationIssue, _Mapping]]] = ...) -> None: ...

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
