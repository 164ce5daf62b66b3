"""The contracts: buf-lint clean, versioned packages, one service per file, and committed stubs
that match the protos (the same check `make proto-check` runs)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOS = sorted((ROOT / "proto").rglob("*.proto"))


def test_every_proto_is_versioned_and_has_at_most_one_service():
    assert PROTOS
    for path in PROTOS:
        text = path.read_text()
        package = re.search(r"^package ([\w.]+);", text, re.M).group(1)
        assert re.fullmatch(r"maestro\.\w+\.v\d+", package), package
        assert path.parent.relative_to(ROOT / "proto").as_posix() == package.replace(".", "/")
        assert len(re.findall(r"^service ", text, re.M)) <= 1, path


def test_buf_lint_is_clean():
    buf = shutil.which("buf") or str(Path(sys.executable).parent / "buf")
    if not Path(buf).exists():
        pytest.fail("buf is not installed; run scripts/setup.sh")
    result = subprocess.run([buf, "lint"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_committed_stubs_match_protos(tmp_path):
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = ["protoc", "-I", str(ROOT / "proto"), "-I", str(well_known),
            f"--python_out={tmp_path}", f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}", *map(str, PROTOS)]
    assert protoc.main(args) == 0
    generated = ROOT / "services/common/src"
    for fresh in tmp_path.rglob("*.py*"):
        committed = generated / fresh.relative_to(tmp_path)
        assert committed.exists(), f"{committed} is missing: run `make proto`"
        assert committed.read_bytes() == fresh.read_bytes(), f"{committed} is stale: run `make proto`"
