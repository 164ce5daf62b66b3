"""Pass rates of LLM-written code against the golden suites, with and without refinement.

For each sample, the real generation loop of the codegen service (`codegen.generate.Generator`,
the sandbox, the golden checks, the LLM's own unit test and trace check) writes:
- initiation/termination for each of the five skills (held to `codegen.golden`),
- the training policy pi_T (held to the "training" suite of `codegen.golden_policy`),
- a task policy for "reach the Gnomish Mines" (held to the "gnomish_mines" suite).
A sample passes "without refinement" when its first answer passes, "with refinement" when an
answer within the round budget does. Sample 0 answers greedily first, as the service does; the
others differ by seed and sample their first answer too, so N samples are N draws of the model. The time to a
validated pi_T is the wall time of a training-policy generation that passed (median over samples).

    python bench/codegen_quality.py [--samples 3] [--model default] [--max-refinements 3] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import write_result  # noqa: E402

from codegen.config import CodegenSettings
from codegen.generate import PROMPT_VERSION, GenerationSettings, Generator, RunOutcome
from codegen.generate_job import TRAINING_GOAL, TRAINING_HINTS
from codegen.harness import outcome_of, run_generated, run_policy_golden
from evaluator.tasks import get_task
from maestro_common.generated.contract import SKILL_NAMES, contract_doc
from maestro_common.generated.validator import validate
from maestro_common.llm import make_client
from maestro_common.nethack.skills import skill_by_name

MINES = get_task("gnomish_mines")
MINES_GOAL = "reach the Gnomish Mines"
MINES_HINTS = MINES.strategy_hints
"""The evaluator registry's hints for the task (the paper's per-task instructions)."""
TEMPERATURE = 0.7
GOAL_TIME_TO_PI_T_S = 300.0


def _validate(code: str, role: str) -> list[str]:
    return [str(issue) for issue in validate(code, role)]


def _run(role: str, code: str, test_code: str, skill: str = "") -> RunOutcome:
    result = run_generated(role, code, test_code, skill=skill)
    return outcome_of(result)


def _record(kind: str, sample: int, generation, seconds: float) -> dict:
    """One generation's outcome; `exchanges` holds every answer and feedback after the shared prompt."""
    return {"kind": kind, "sample": sample, "passed": generation.passed,
            "passed_first": generation.passed and generation.rounds == 1, "rounds": generation.rounds,
            "seconds": round(seconds, 1), "tokens": generation.prompt_tokens + generation.completion_tokens,
            "golden_problems": generation.golden_problems[:3], "code": generation.code,
            "last_feedback": next((m["content"][:1500] for m in reversed(generation.transcript[2:])
                                   if m["role"] == "user"), ""),
            "exchanges": generation.transcript[2:]}


def _rates(records: list[dict], kind_prefix: str) -> tuple[float, float, int]:
    chosen = [r for r in records if r["kind"].startswith(kind_prefix)]
    if not chosen:
        return 0.0, 0.0, 0
    return (sum(r["passed"] for r in chosen) / len(chosen), sum(r["passed_first"] for r in chosen) / len(chosen),
            len(chosen))


def _kinds(wanted: list[str]) -> list[str]:
    kinds = [f"skill:{name}" for name in SKILL_NAMES] if "skills" in wanted else []
    return kinds + [f"policy:{suite}" for suite in ("training", "gnomish_mines") if suite in wanted]


def _generate(generator: Generator, kind: str):
    """One generation of `kind` ("skill:<name>" or "policy:<suite>") through the service's loop."""
    skills = [(name, skill_by_name(name).description) for name in SKILL_NAMES]
    role, name = kind.split(":")
    if role == "skill":
        return generator.skill_functions(name, skill_by_name(name).description)
    goal, hints = (TRAINING_GOAL, list(TRAINING_HINTS)) if name == "training" else (MINES_GOAL, list(MINES_HINTS))
    return generator.policy(goal, skills, hints, golden=lambda code: run_policy_golden(code, name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--model", default="default", help="embedded model name or alias (default, tiny)")
    parser.add_argument("--max-refinements", type=int, default=3)
    parser.add_argument("--kinds", default="skills,training,gnomish_mines")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "codegen_quality.json"))
    parser.add_argument("--from-samples", default="",
                        help="summarise an existing .samples.jsonl (e.g. of a run cut short) instead of generating")
    args = parser.parse_args()
    if args.from_samples:
        records = [json.loads(line) for line in Path(args.from_samples).read_text().splitlines() if line.strip()]
        _summarise(args, records, model=args.model, load_seconds=0.0)
        return
    kinds = args.kinds.split(",")
    llm_settings = CodegenSettings(llm_model=args.model) if args.model != "default" else CodegenSettings()
    started = time.perf_counter()
    client = make_client(llm_settings.llm_config())
    load_seconds = time.perf_counter() - started
    records: list[dict] = []
    raw_path = Path(args.out).with_suffix(".samples.jsonl")
    raw_path.write_text("")
    for sample in range(args.samples):
        settings = GenerationSettings(max_refinements=args.max_refinements, max_tokens=1024, seed=1000 * sample,
                                      first_temperature=TEMPERATURE if sample else 0.0,
                                      prompt_version=PROMPT_VERSION)
        generator = Generator(client, settings, _validate, _run, contract_doc)
        for kind in _kinds(kinds):
            began = time.perf_counter()
            generation = _generate(generator, kind)
            record = _record(kind, sample, generation, time.perf_counter() - began)
            records.append(record)
            with raw_path.open("a") as raw:
                raw.write(json.dumps(record) + "\n")
            print(f"sample {sample} {kind}: passed={record['passed']} first={record['passed_first']} "
                  f"rounds={record['rounds']} {record['seconds']}s", flush=True)
    client.close()
    _summarise(args, records, model=client.model, load_seconds=load_seconds)


def _summarise(args, records: list[dict], *, model: str, load_seconds: float) -> None:
    """Pass rates and times from per-generation records; writes the result JSON."""
    samples = len({r["sample"] for r in records})
    metrics, extra = {}, {}
    for label, prefix in (("skills", "skill:"), ("pi_t", "policy:training"), ("gnomish_mines", "policy:gnomish")):
        refined, first, count = _rates(records, prefix)
        if count:
            metrics[f"golden_pass_rate_{label}"] = refined
            metrics[f"golden_pass_rate_no_refine_{label}"] = first
            extra[f"attempts_{label}"] = count
    every = [r for r in records]
    metrics["golden_pass_rate"] = sum(r["passed"] for r in every) / max(1, len(every))
    metrics["golden_pass_rate_no_refine"] = sum(r["passed_first"] for r in every) / max(1, len(every))
    pi_t_times = [r["seconds"] for r in records if r["kind"] == "policy:training" and r["passed"]]
    if pi_t_times:
        metrics["time_to_validated_policy_s"] = statistics.median(pi_t_times)
    per_skill = {}
    for name in SKILL_NAMES:
        chosen = [r for r in records if r["kind"] == f"skill:{name}"]
        if chosen:
            per_skill[name] = {"passed": sum(r["passed"] for r in chosen),
                               "passed_first": sum(r["passed_first"] for r in chosen), "samples": len(chosen)}
    write_result(
        "codegen_quality", args.out, metrics=metrics,
        anchors={"model_load_s": round(load_seconds, 1)},
        ratios=({"time_to_validated_policy_over_goal": metrics["time_to_validated_policy_s"] / GOAL_TIME_TO_PI_T_S}
                if pi_t_times else {}),
        notes=(f"{samples} sample(s) per kind with model {model} on llama.cpp (CPU); sample 0 greedy "
               f"first (as the service), the others at temperature {TEMPERATURE} from the first answer; at most "
               f"{args.max_refinements} rewrites; 'no_refine' = the first answer passed. Passing = validator + "
               "sandbox + golden suite (skills: codegen.golden; "
               "policies: codegen.golden_policy) + for policies the LLM's own unit test and its yes/no reading "
               "of the trace. Every sample's outcome and code is in the .samples.jsonl beside this file."),
        extra={"samples": samples, "max_refinements": args.max_refinements, "prompt_version": PROMPT_VERSION,
               "per_skill": per_skill, "mines_hints": list(MINES_HINTS),
               "outcomes": [{k: r[k] for k in ("kind", "sample", "passed", "passed_first", "rounds", "seconds",
                                               "golden_problems")} for r in records], **extra},
    )


if __name__ == "__main__":
    main()
