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
stamp_inputs=$(cat requirements.txt "${packages[@]/%//pyproject.toml}" | sha256sum | cut -d' ' -f1)
stamp="$VENV/.maestro-setup-stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_inputs" ] && [ -x "$VENV/bin/maestro" ]; then
  echo "setup: $VENV is up to date"
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements.txt
args=()
for p in "${packages[@]}"; do args+=(-e "$p"); done
"$VENV/bin/python" -m pip install -q --no-deps "${args[@]}"
"$VENV/bin/python" -m pip check >/dev/null || { "$VENV/bin/python" -m pip check; exit 1; }
echo "$stamp_inputs" > "$stamp"
echo "setup: installed into $VENV"
