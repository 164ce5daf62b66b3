"""The main job end to end: wall time of `maestro run` on an empty MAESTRO_HOME, per phase.

    python bench/main_job.py                       # default budgets, this machine
    python bench/main_job.py -- --train-steps 5000 # anything after -- goes to `maestro run`

Runs `maestro run` (local mode, embedded model, default budgets unless given) in a fresh temporary
MAESTRO_HOME, so no phase is reused, and reads the phase table that it prints at the end.
Anchor (same run, before the job): the embedded model's generation speed in tokens/s on a short
completion, since the annotate and codegen phases are bound by it.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import write_result  # noqa: E402

PHASE_ROW = re.compile(r"^(?P<phase>[a-z_]+)\s+(?P<status>[a-z]+)\s+(?P<seconds>\d+)s\b", re.MULTILINE)


def llm_tokens_per_s() -> float:
    """Tokens/s of the embedded model (codegen's settings) writing 128 tokens greedily."""
    from codegen.config import CodegenSettings
    from maestro_common.llm import make_client

    client = make_client(CodegenSettings().llm_config())
    try:
        messages = [{"role": "user", "content": "Write a Python function that sorts a list of integers."}]
        start = time.perf_counter()
        completion = client.chat(messages, max_tokens=128, temperature=0.0)
        return completion.completion_tokens / (time.perf_counter() - start)
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "main_job.json"))
    parser.add_argument("--log", default="", help="also keep maestro run's output here")
    parser.add_argument("run_args", nargs="*", help="arguments for `maestro run` (after --)")
    args = parser.parse_args()

    anchor = llm_tokens_per_s()
    maestro = str(Path(sys.executable).with_name("maestro"))
    with tempfile.TemporaryDirectory(prefix="maestro-home-") as home:
        start = time.perf_counter()
        run = subprocess.run([maestro, "run", *args.run_args], env=os.environ | {"MAESTRO_HOME": home},
                             stdin=subprocess.DEVNULL, capture_output=True, text=True)
        wall = time.perf_counter() - start
        report_written = (Path(home) / "runs" / "report" / "report.md").exists()
    output = run.stdout + run.stderr
    if args.log:
        Path(args.log).write_text(output)
    phases = {m["phase"]: {"status": m["status"], "seconds": int(m["seconds"])} for m in PHASE_ROW.finditer(output)}
    if run.returncode != 0 or not report_written:
        sys.exit(f"maestro run exited {run.returncode} (report written: {report_written}); phases: {phases}\n"
                 + output[-3000:])
    write_result(
        "main_job", args.out,
        metrics={"run_wall_s": wall, "phase_seconds_total": sum(p["seconds"] for p in phases.values())},
        anchors={"llm_tokens_per_s": anchor},
        ratios={},
        notes=("`maestro run` from an empty MAESTRO_HOME (local mode: the five services on loopback, the embedded "
               "Qwen2.5-Coder-1.5B on llama.cpp, default budgets unless run_args say otherwise); run_wall_s includes "
               "starting and stopping the services; set-up (`make setup`) is not included. phases: each phase's "
               "status and seconds as the summary table printed them. Anchor: the same model's greedy generation "
               "speed on a 128-token answer, measured just before the run."),
        extra={"phases": phases, "run_args": args.run_args, "report_written": report_written},
    )


if __name__ == "__main__":
    main()
