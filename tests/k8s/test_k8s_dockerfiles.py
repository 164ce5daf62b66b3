"""Static checks of the service Dockerfiles (no container engine runs here): multi-stage, a non-root
numeric USER in the final stage, the catalog's entry point and ports, only this service's sources,
pinned base image, no secrets, no remote ADD, and a .dockerignore that keeps the context small."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from k8s_support import ROOT

from maestro_common.catalog import SERVICES

SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|PRIVATE)", re.I)
SECRET_VALUE = re.compile(r"(AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY|ghp_[A-Za-z0-9]{20,}|hf_[A-Za-z0-9]{20,})")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def stages(steps):
    """Lists of instructions per FROM stage (ARGs before the first FROM are global)."""
    out = []
    for word, rest in steps:
        if word == "FROM":
            out.append([(word, rest)])
        elif out:
            out[-1].append((word, rest))
    return out


def dockerfile_problems(text: str, info) -> list[str]:
    steps = instructions(text)
    problems = []
    built = stages(steps)
    if len(built) < 2:
        problems.append("not multi-stage (one FROM)")
    final = built[-1] if built else []
    users = [rest for word, rest in final if word == "USER"]
    if not users:
        problems.append("the final stage sets no USER (it would run as root)")
    else:
        user = users[-1].split(":")[0]
        if not user.isdigit() or int(user) == 0:
            problems.append(f"USER {users[-1]!r} is not a numeric non-root uid (runAsNonRoot needs a number)")
    copies = [rest for stage in built[1:] for word, rest in stage if word == "COPY"]
    if not any(rest.startswith("--from=") for rest in copies):
        problems.append("the final stage copies nothing from a build stage")
    base_args = {m.group(1): m.group(2) for word, rest in steps if word == "ARG"
                 for m in [re.match(r"(\w+)=(\S+)", rest)] if m}
    for stage in built:
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: base_args.get(m.group(1), ""), image)
        if ":" not in image or image.endswith(":latest"):
            problems.append(f"base image {image!r} is not pinned to a version tag")
    entry = [rest for word, rest in final if word == "ENTRYPOINT"]
    if entry != [f'["python", "-m", "{info.package}"]']:
        problems.append(f"ENTRYPOINT {entry} is not python -m {info.package}")
    exposed = {p for word, rest in final if word == "EXPOSE" for p in rest.split()}
    if exposed != {str(info.grpc_port), str(info.metrics_port)}:
        problems.append(f"EXPOSE {sorted(exposed)} is not the catalog's ports")
    for word, rest in steps:
        if word == "COPY" and not rest.startswith("--from="):
            sources = shlex.split(rest)[:-1]
            for source in sources:
                other = re.match(r"services/([^/]+)", source)
                if other and other.group(1) not in ("common", info.name):
                    problems.append(f"copies another service's sources: {source}")
        if word == "ADD" and re.search(r"https?://", rest):
            problems.append(f"ADD from a URL: {rest}")
        if word in ("ENV", "ARG"):
            for name, value in re.findall(r"(\w+)=(\S*)", rest):
                if SECRET_NAME.search(name) and value:
                    problems.append(f"{word} {name} carries a secret-looking value")
        if SECRET_VALUE.search(rest):
            problems.append(f"a credential is written into the Dockerfile: {word} ...")
    return problems


@pytest.mark.parametrize("info", SERVICES, ids=lambda i: i.name)
def test_service_dockerfile(info):
    path = ROOT / "services" / info.name / "Dockerfile"
    assert path.exists(), f"{path} is missing"
    problems = dockerfile_problems(path.read_text(), info)
    assert not problems, f"{path}:\n" + "\n".join(problems)


def test_the_checker_catches_what_it_promises():
    info = SERVICES[2]
    good = (ROOT / "services" / info.name / "Dockerfile").read_text()
    as_root = good.replace("USER 10001:10001", "USER root")
    assert any("USER" in p for p in dockerfile_problems(as_root, info))
    single = "FROM python:3.11-slim\nCOPY services/codegen /src\nENTRYPOINT [\"python\", \"-m\", \"codegen\"]\n"
    found = dockerfile_problems(single, info)
    assert any("multi-stage" in p for p in found) and any("no USER" in p for p in found)
    leaky = good.replace("ENV PATH=", "ENV HF_TOKEN=hf_abcdefghijklmnopqrstuvwx PATH=")
    assert any("secret" in p or "credential" in p for p in dockerfile_problems(leaky, info))
    other = good.replace("COPY services/codegen ", "COPY services/evaluator ")
    assert any("another service" in p for p in dockerfile_problems(other, info))
    latest = good.replace("python:3.11.11-slim-bookworm", "python:latest")
    assert any("not pinned" in p for p in dockerfile_problems(latest, info))


def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as a regex: ** any depth, * and ? within one path element."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")


def _ignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent directories wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern[1:] if negate else pattern)
        if any(regex.match(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_sends_only_sources():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for path in (".venv/bin/python", ".git/HEAD", "tests/conftest.py", "bench/README.md", "k8s/README.md",
                 "services/codegen/src/codegen/__pycache__/x.pyc", "services/common/src/maestro_common.egg-info/PKG-INFO"):
        assert _ignored(patterns, path), f"{path} would be sent to the build"
    for path in ("requirements.txt", "requirements-models.txt", "services/codegen/pyproject.toml", "services/codegen/src/codegen/server.py",
                 "services/common/src/maestro_common/catalog.py"):
        assert not _ignored(patterns, path), f"{path} is needed by the build"


def test_image_build_says_so_when_no_container_engine_answers(tmp_path):
    """With neither docker nor podman reachable, the build script names the problem and exits 2."""
    import subprocess

    if any((Path(d) / "podman").exists() for d in ("/usr/bin", "/bin")):
        pytest.skip("a podman on the PATH might answer and build for real")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake_docker = fake_bin / "docker"  # a docker client whose daemon is down, as on this machine
    fake_docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake_docker.chmod(0o755)
    result = subprocess.run(["bash", str(ROOT / "k8s" / "build_images.sh")], capture_output=True, text=True,
                            env={"PATH": f"{fake_bin}:/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "no container engine answers here" in result.stderr
    assert "docker build -f services/codegen/Dockerfile" in result.stderr
