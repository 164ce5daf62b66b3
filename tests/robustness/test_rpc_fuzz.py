"""Property-based fuzzing of every RPC of every service against real servers on loopback.

Requests are drawn from the protobuf descriptors (so RPCs added later are covered with no change
here): every field absent or holding edge values, ArtifactRef fields half the time naming a real
artifact of some kind (so requests get past the artifact checks), messages just under and over the
size limit, raw bytes that are not a valid protobuf, and wrong or missing bearer tokens where a service
has one. Every answer must be one of the documented status codes (never UNKNOWN or INTERNAL), come
before the deadline, carry a message when it is an error, and leave the server SERVING. Jobs that a
fuzzed request starts are cancelled at once (the slow tier first lets them run 20 s: they must not
fail INTERNAL); the services' LLM and the evaluator's codegen point at closed loopback ports and
collection is capped at one environment, so such jobs end quickly. Default tier: a few examples
per RPC (MAESTRO_FUZZ_EXAMPLES); `-m slow` runs MAESTRO_FUZZ_SLOW_EXAMPLES (150) per RPC.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import symbol_database
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proto_strategies import LOOPBACK_NOWHERE, oversized, request_strategy
from robustness_support import TERMINAL, info_of, pb2_of, wait_until

from maestro.common.v1 import common_pb2
from maestro_common.artifacts import ArtifactStore
from maestro_common.catalog import SERVICES
from maestro_common.runtime import serve

ACCEPTED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNAUTHENTICATED}
"""The documented answers to a bad request (UNIMPLEMENTED: an RPC this release does not serve yet)."""
MAX_MESSAGE_BYTES = 256 * 1024
"""The servers' MAESTRO_MAX_MESSAGE_BYTES in this test (small, so oversized requests are cheap)."""
CALL_TIMEOUT_S = 30.0
"""A call that has not answered by then counts as a hang."""
API_TOKEN = "fuzz-token"
DEFAULT_EXAMPLES = int(os.environ.get("MAESTRO_FUZZ_EXAMPLES", "6"))
SLOW_EXAMPLES = int(os.environ.get("MAESTRO_FUZZ_SLOW_EXAMPLES", "150"))
JOB_RUN_S = 20.0
"""Slow tier: how long a job that a fuzzed request started may run (and must not fail INTERNAL) before cancel."""

REAL_ARTIFACTS: list[dict] = []
"""uri/sha256/size of real artifacts in the servers' store (set by the `servers` fixture)."""
KNOWN_BUGS: dict[str, str] = {}
"""Failures these tests found that are reported and not fixed yet: target -> the bug. Each is pinned by a strict
xfail below; the random fuzz gives such a target only JSON artifacts, so it keeps looking for new failures."""

SETTINGS_FOR_FUZZ = dict(
    llm_backend="openai", llm_base_url=LOOPBACK_NOWHERE, llm_model="nowhere", llm_max_retries=0, llm_timeout_s=2.0,
    collect_num_envs=1, collect_max_envs=1, max_refinements=1, generation_max_tokens=64, max_epochs=2,
    api_token=API_TOKEN, codegen_address="127.0.0.1:9", policy_timeout_s=5.0, max_episodes=2, default_num_envs=1,
    eval_workers=1, device="cpu", torch_threads=1,
)
"""Service settings that keep any job a fuzzed request starts small (applied where a service has the field)."""


@dataclass(frozen=True)
class Target:
    package: str
    service: str
    method: str
    request_cls: type
    response_cls: type
    server_streaming: bool

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method}"

    def __str__(self) -> str:
        return f"{self.package}.{self.method}"


def _targets() -> list[Target]:
    found = []
    db = symbol_database.Default()
    for info in SERVICES:
        descriptor = pb2_of(info).DESCRIPTOR.services_by_name[info.grpc_service.rsplit(".", 1)[1]]
        for method in descriptor.methods:
            found.append(Target(info.package, descriptor.full_name, method.name,
                                db.GetSymbol(method.input_type.full_name), db.GetSymbol(method.output_type.full_name),
                                method.server_streaming))
    return found


TARGETS = _targets()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """All five services, in this process, on 127.0.0.1:<free port>; one channel to each."""
    root = tmp_path_factory.mktemp("fuzz")
    REAL_ARTIFACTS[:] = _real_artifacts(ArtifactStore(str(root / "artifacts")))
    running, channels = {}, {}
    for info in SERVICES:
        service = importlib.import_module(f"{info.package}.server").SERVICE
        fields = service.settings_cls.model_fields
        extra = {name: value for name, value in SETTINGS_FOR_FUZZ.items() if name in fields}
        config = service.settings_cls(grpc_host="127.0.0.1", grpc_port=0, metrics_port=-1,
                                      data_dir=root / info.package, artifact_root=str(root / "artifacts"),
                                      shutdown_grace_seconds=1, max_message_bytes=MAX_MESSAGE_BYTES, **extra)
        running[info.package] = serve(service, config)
    for package, server in running.items():
        assert server.ready.wait(60), f"{package} did not become ready"
        channels[package] = grpc.insecure_channel(server.address)
    yield channels
    for package, channel in channels.items():
        _drain_jobs(package, channel)
    for channel in channels.values():
        channel.close()
    for server in running.values():
        server.stop(0.5)
    REAL_ARTIFACTS.clear()


def _drain_jobs(package: str, channel: grpc.Channel, timeout: float = 120.0) -> None:
    """Cancel every job the fuzz left unfinished and wait until none runs, so that no job thread is still
    inside native code (torch, NetHack, llama.cpp) when the test process exits."""
    target = next(t for t in TARGETS if t.package == package and t.method == "ListJobs")
    pb2 = pb2_of(info_of(package))
    list_jobs = channel.unary_unary(target.path, request_serializer=pb2.ListJobsRequest.SerializeToString,
                                    response_deserializer=pb2.ListJobsResponse.FromString)
    live = [common_pb2.JOB_STATE_QUEUED, common_pb2.JOB_STATE_RUNNING]

    def unfinished():
        query = common_pb2.JobQuery(states=live, page_size=1000)
        return list(list_jobs(pb2.ListJobsRequest(query=query), timeout=CALL_TIMEOUT_S, metadata=_metadata(target)).jobs)

    for job in unfinished():
        _job_rpc(channel, target, "CancelJob")(job.job_id)
    wait_until(lambda: not unfinished(), timeout, f"{package}'s fuzzed jobs to end after cancel", interval=0.2)


def _real_artifacts(store: ArtifactStore) -> list[dict]:
    """A small dataset and a small label table in the servers' store, for fuzzed ArtifactRef fields."""
    from maestro_common.datasets import DatasetManifest, write_manifest, write_shard
    from maestro_common.nethack.dataset import collect_episodes
    from maestro_common.nethack.env import EnvConfig
    from maestro_common.reward.synthetic import synthetic_label_table, write_label_table

    table = collect_episodes(EnvConfig(max_episode_steps=120), "random", seeds=[3], episode_ids=["f"], num_workers=1)
    refs = [write_manifest(store, DatasetManifest([write_shard(store, table, episodes=1)], source="fuzz")),
            write_label_table(store, synthetic_label_table(200, ["Descender", "Merchant"], seed=2, pool_size=20)),
            store.put_json({"format": "not-a-known-artifact", "skills": {}}, name="other.json"),
            store.put_bytes(b"\x00\xffnot json, not parquet", name="blob.bin")]
    return [dict(uri=ref.uri, sha256=ref.sha256, size_bytes=ref.size_bytes) for ref in refs]


AUTHENTICATED = {info.package for info in SERVICES
                 if "api_token" in importlib.import_module(f"{info.package}.server").SERVICE.settings_cls.model_fields}
"""Packages whose settings carry an API token: they must check it on every call."""


def _metadata(target: Target):
    return (("authorization", f"Bearer {API_TOKEN}"),)


def _call(channel: grpc.Channel, target: Target, payload, *, raw: bool = False, metadata=None):
    """Send `payload` (a message, or bytes when raw); returns (code, details, response or None)."""
    metadata = _metadata(target) if metadata is None else metadata
    serializer = None if raw else target.request_cls.SerializeToString
    try:
        if target.server_streaming:
            call = channel.unary_stream(target.path, request_serializer=serializer,
                                        response_deserializer=target.response_cls.FromString)
            stream = call(payload, timeout=CALL_TIMEOUT_S, metadata=metadata)
            response = next(stream, None)  # the first answer is enough; the stream may follow a live job
            stream.cancel()
            return grpc.StatusCode.OK, "", response
        call = channel.unary_unary(target.path, request_serializer=serializer,
                                   response_deserializer=target.response_cls.FromString)
        return grpc.StatusCode.OK, "", call(payload, timeout=CALL_TIMEOUT_S, metadata=metadata)
    except grpc.RpcError as error:
        return error.code(), error.details() or "", None


def _job_rpc(channel: grpc.Channel, target: Target, name: str):
    pb2 = pb2_of(info_of(target.package))
    request_cls, response_cls = getattr(pb2, name + "Request"), getattr(pb2, name + "Response")
    call = channel.unary_unary(f"/{target.service}/{name}", request_serializer=request_cls.SerializeToString,
                               response_deserializer=response_cls.FromString)
    return lambda job_id: call(request_cls(job_id=job_id), timeout=CALL_TIMEOUT_S, metadata=_metadata(target)).job


def _cancel_started_job(channel: grpc.Channel, target: Target, response, *, let_run_s: float = 0.0) -> None:
    """Cancel a job that `response` started. With `let_run_s`, first let it run that long: a job that
    ends by then must not have failed INTERNAL/UNKNOWN (bad input the RPC accepted and the job choked on)."""
    job = getattr(response, "job", None) if response is not None and "job" in response.DESCRIPTOR.fields_by_name \
        else None
    if job is None or not job.job_id or target.method in ("GetJob", "WatchJob", "CancelJob"):
        return
    if let_run_s > 0:
        get = _job_rpc(channel, target, "GetJob")
        try:
            ended = wait_until(lambda: (lambda j: j if j.state in TERMINAL else None)(get(job.job_id)), let_run_s,
                               "the fuzzed job", interval=0.1)
        except AssertionError:
            ended = None
        if ended is not None:
            assert ended.error.code not in ("INTERNAL", "UNKNOWN"), (
                f"{target}: a request the RPC accepted made its job fail {ended.error.code}: {ended.error.message}")
            return
    _job_rpc(channel, target, "CancelJob")(job.job_id)


def _assert_serving(channel: grpc.Channel, target: Target) -> None:
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=target.service),
                                                       timeout=10).status
    assert status == health_pb2.HealthCheckResponse.SERVING, f"{target.package} is no longer SERVING"


def _check_answer(target: Target, request, code, details) -> None:
    shown = repr(request)[:500]
    assert code != grpc.StatusCode.DEADLINE_EXCEEDED, f"{target}: no answer within {CALL_TIMEOUT_S}s to {shown}"
    assert code in ACCEPTED, f"{target}: answered {code.name} ({details[:300]}) to {shown}"
    if code != grpc.StatusCode.OK:
        assert details.strip(), f"{target}: {code.name} without a message"


def _fuzz_once(servers, target: Target, request, let_run_s: float = 0.0) -> None:
    channel = servers[target.package]
    code, details, response = _call(channel, target, request)
    _check_answer(target, request, code, details)
    _cancel_started_job(channel, target, response, let_run_s=let_run_s)
    _assert_serving(channel, target)


def _requests(target: Target):
    artifacts = REAL_ARTIFACTS
    if str(target) in KNOWN_BUGS:
        artifacts = [ref for ref in REAL_ARTIFACTS if ref["uri"].endswith(".json")]
    return request_strategy(target.request_cls, artifacts)


FUZZ_SETTINGS = dict(deadline=None, database=None, derandomize=False, print_blob=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.filter_too_much])


@pytest.mark.parametrize("target", TARGETS, ids=str)
@settings(max_examples=DEFAULT_EXAMPLES, **FUZZ_SETTINGS)
@given(data=st.data())
def test_fuzzed_requests_get_documented_answers(servers, target, data):
    _fuzz_once(servers, target, data.draw(_requests(target), label="request"))


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS, ids=str)
@settings(max_examples=SLOW_EXAMPLES, **FUZZ_SETTINGS)
@given(data=st.data())
def test_fuzzed_requests_get_documented_answers_many(servers, target, data):
    _fuzz_once(servers, target, data.draw(_requests(target), label="request"),
               let_run_s=JOB_RUN_S)


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_messages_just_under_and_over_the_size_limit(servers, target):
    for delta in (-512, 64):
        request = oversized(target.request_cls, MAX_MESSAGE_BYTES, delta)
        if request is None:
            pytest.skip(f"{target.request_cls.__name__} has no string field to grow")
        code, details, response = _call(servers[target.package], target, request)
        _check_answer(target, "<%d bytes>" % request.ByteSize(), code, details)
        if delta > 0:
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, f"{target}: {code.name} for an oversized message"
        _cancel_started_job(servers[target.package], target, response)
    _assert_serving(servers[target.package], target)


def _parses(target: Target, payload: bytes) -> bool:
    try:
        target.request_cls.FromString(payload)
        return True
    except DecodeError:
        return False


@pytest.mark.parametrize("target", TARGETS, ids=str)
@settings(max_examples=DEFAULT_EXAMPLES, **FUZZ_SETTINGS)
@given(payload=st.binary(max_size=256))
def test_raw_bytes_never_crash_or_hang(servers, target, payload):
    """Bytes that parse must get a documented answer; bytes that do not parse must at least get an
    answer (INVALID_ARGUMENT, see the test below) and leave the server SERVING."""
    channel = servers[target.package]
    code, details, response = _call(channel, target, payload, raw=True)
    assert code != grpc.StatusCode.DEADLINE_EXCEEDED, f"{target}: no answer to raw {payload!r}"
    if _parses(target, payload):
        _check_answer(target, payload, code, details)
    _cancel_started_job(channel, target, response)
    _assert_serving(channel, target)


UNDECODABLE = (b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x0a\x02\xff\xfe")
"""Not a protobuf: an invalid tag, a truncated length-delimited field, invalid UTF-8 in field 1."""


@pytest.mark.parametrize("package", sorted({t.package for t in TARGETS}))
def test_undecodable_requests_answer_invalid_argument(servers, package):
    bad = []
    for target in (t for t in TARGETS if t.package == package):
        for payload in UNDECODABLE:
            if _parses(target, payload):
                continue
            code, details, _ = _call(servers[package], target, payload, raw=True)
            if code != grpc.StatusCode.INVALID_ARGUMENT:
                bad.append(f"{target} {payload!r}: {code.name} {details}")
        _assert_serving(servers[package], target)
    assert not bad, "\n".join(bad)


def _artifact_fields(cls) -> list[str]:
    return [f.name for f in cls.DESCRIPTOR.fields
            if f.message_type is not None and f.message_type.full_name == "maestro.common.v1.ArtifactRef"
            and not f.is_repeated]


ARTIFACT_TARGETS = [pytest.param(t, id=str(t), marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[str(t)])]
                                 if str(t) in KNOWN_BUGS else []) for t in TARGETS if _artifact_fields(t.request_cls)]


@pytest.mark.parametrize("target", ARTIFACT_TARGETS)
def test_an_artifact_of_the_wrong_kind_is_refused_with_a_documented_code(servers, target):
    """Every real artifact (a dataset, a label table, an unrelated JSON, a binary blob) in every
    ArtifactRef field: refused with a documented code (or accepted), never INTERNAL."""
    bad = []
    for name in _artifact_fields(target.request_cls):
        for ref in REAL_ARTIFACTS:
            request = target.request_cls()
            getattr(request, name).MergeFrom(type(getattr(request, name))(**ref))
            code, details, response = _call(servers[target.package], target, request)
            _cancel_started_job(servers[target.package], target, response)
            if code not in ACCEPTED:
                bad.append(f"{name} = {ref['uri'].rsplit('/', 1)[1]}: {code.name} {details[:200]}")
    _assert_serving(servers[target.package], target)
    assert not bad, f"{target}:\n" + "\n".join(bad)


TOKENS = st.one_of(
    st.none(), st.sampled_from(("", "Bearer", "Bearer ", f"bearer {API_TOKEN}x", f"Basic {API_TOKEN}", API_TOKEN,
                                f"Bearer {API_TOKEN[:-1]}", f"Bearer  {API_TOKEN}x", "Bearer " + "a" * 4000)),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
)
"""authorization header values; none of them is the right bearer token."""


@pytest.mark.parametrize("target", [t for t in TARGETS if t.package in AUTHENTICATED], ids=str)
@settings(max_examples=DEFAULT_EXAMPLES, **FUZZ_SETTINGS)
@given(token=TOKENS, data=st.data())
def test_wrong_or_missing_tokens_are_refused(servers, target, token, data):
    """A service with an API token answers UNAUTHENTICATED to any other credential, before looking at the
    request (only a message over the size limit is refused earlier, by gRPC: RESOURCE_EXHAUSTED)."""
    request = data.draw(_requests(target), label="request")
    metadata = () if token is None else (("authorization", token),)
    code, details, response = _call(servers[target.package], target, request, metadata=metadata)
    _check_answer(target, request, code, details)
    too_big = code == grpc.StatusCode.RESOURCE_EXHAUSTED and request.ByteSize() > MAX_MESSAGE_BYTES
    assert too_big or code == grpc.StatusCode.UNAUTHENTICATED, f"{target}: {code.name} with authorization {token!r}"
    _cancel_started_job(servers[target.package], target, response)
    _assert_serving(servers[target.package], target)
