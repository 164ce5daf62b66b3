"""Wires the llm-annotator into the shared runtime: `python -m llm_annotator` runs `main`.

The service's own LLM (embedded llama.cpp by default, or an OpenAI-compatible server such as vLLM)
is loaded during warm-up, so health reports NOT_SERVING until the model is ready; a model whose
hash does not match is refused and the service stays NOT_SERVING with the reason in its log.
"""

from __future__ import annotations

from llm_annotator.annotate import run_annotation
from llm_annotator.cache import ResponseCache
from llm_annotator.config import AnnotatorSettings
from llm_annotator.judge import Judge
from llm_annotator.metrics import AnnotatorMetrics
from llm_annotator.plan import plan_from_request
from llm_annotator.prompts import load_prompt
from llm_annotator.servicer import ANNOTATE_DATASET, AnnotatorServicer
from maestro.annotator.v1 import annotator_pb2 as pb
from maestro.annotator.v1 import annotator_pb2_grpc as pb_grpc
from maestro_common import runtime
from maestro_common.catalog import service_info
from maestro_common.errors import Unavailable
from maestro_common.jobs import HandlerSpec, JobContext
from maestro_common.llm import LlmClient, make_client
from maestro_common.runtime import Built, Service, ServiceContext

INFO = service_info("llm-annotator")


def build(context: ServiceContext) -> Built:
    settings: AnnotatorSettings = context.settings
    cache = ResponseCache(settings.resolved_data_dir(INFO.name) / "answers.sqlite")
    metrics = AnnotatorMetrics(context.registry)
    loaded: dict[str, LlmClient] = {}

    def load_model() -> None:
        loaded["default"] = make_client(settings.llm_config())

    def annotate_dataset(job: JobContext) -> None:
        request = pb.AnnotateDatasetRequest.FromString(job.request)
        plan, judge_settings, choice = plan_from_request(request, settings, context.artifacts)
        if choice.base_url:
            client = make_client(settings.llm_config(base_url=choice.base_url, model=choice.model))
        elif "default" in loaded:
            client = loaded["default"]
        else:
            raise Unavailable("the annotator's model is still loading; retry shortly")
        try:
            judge = Judge(client, load_prompt(plan.mode, plan.prompt_version), cache, judge_settings)
            run_annotation(job, plan, context.artifacts, judge, observer=metrics)
        finally:
            if client is not loaded.get("default"):
                client.close()

    handlers = {ANNOTATE_DATASET: HandlerSpec(annotate_dataset, resumable=True,
                                              description="label observation pairs with an LLM judge")}
    return Built(servicer=AnnotatorServicer(context), handlers=handlers, warmup=load_model)


SERVICE = Service(
    info=INFO,
    settings_cls=AnnotatorSettings,
    add_servicer=pb_grpc.add_AnnotatorServiceServicer_to_server,
    build=build,
)


def main() -> None:
    runtime.main(SERVICE)
