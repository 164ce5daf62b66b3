#!/usr/bin/env bash
# Build the five service images from the repository root with docker or podman.
#   bash k8s/build_images.sh [TAG]        (IMAGE_REPOSITORY=ghcr.io/maestromotif by default;
#                                          PUSH=1 pushes them; TORCH_INDEX_URL picks the torch build;
#                                          WITH_EMBEDDED_MODEL=false leaves the embedded LLM weights out)
# Images are named <repository>/maestro-<service>:<tag>, which is what the chart expects.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-0.1.0}
REPOSITORY=${IMAGE_REPOSITORY:-ghcr.io/maestromotif}
SERVICES=(llm-annotator reward-trainer codegen skill-learner evaluator)

engine=""
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  engine=docker
elif command -v podman >/dev/null 2>&1 && podman info >/dev/null 2>&1; then
  engine=podman
fi
if [ -z "$engine" ]; then
  echo "build_images: no container engine answers here (docker: $(command -v docker || echo absent)," \
       "podman: $(command -v podman || echo absent)); start a Docker daemon or install podman." >&2
  echo "  The Dockerfiles are services/<service>/Dockerfile; build each from the repository root:" >&2
  echo "  docker build -f services/codegen/Dockerfile -t $REPOSITORY/maestro-codegen:$TAG ." >&2
  exit 2
fi

args=()
[ -n "${TORCH_INDEX_URL:-}" ] && args+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
[ -n "${WITH_EMBEDDED_MODEL:-}" ] && args+=(--build-arg "WITH_EMBEDDED_MODEL=$WITH_EMBEDDED_MODEL")
if [ "$engine" = podman ]; then
  # Rootless or nested podman: runc, small ulimits and the host network (no bridge networking).
  args+=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network host)
fi
for service in "${SERVICES[@]}"; do
  image="$REPOSITORY/maestro-$service:$TAG"
  echo "build_images: $engine build $image"
  "$engine" build "${args[@]}" -f "services/$service/Dockerfile" -t "$image" .
  if [ "${PUSH:-0}" = 1 ]; then "$engine" push "$image"; fi
done
echo "build_images: built ${#SERVICES[@]} images with tag $TAG"
