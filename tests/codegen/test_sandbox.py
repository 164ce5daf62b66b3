"""The sandbox runs ordinary test code and reports what happened."""

from __future__ import annotations

import os

import pytest

from codegen.sandbox import SandboxLimits, SandboxResult, run_python
from maestro_common.errors import InvalidArgument


def test_normal_run_reports_output_exit_and_timing():
    result = run_python({"main.py": "print('hello')\n"}, "main.py")
    assert result.exit_status == 0
    assert result.stdout == "hello\n"
    assert result.stderr == ""
    assert result.limit_hit == "none"
    assert result.passed
    assert 0 < result.wall_seconds < 5
    assert 0 <= result.cpu_seconds <= result.wall_seconds + 0.5


def test_failing_assertion_exits_1_with_traceback():
    result = run_python({"test_x.py": "def f():\n    return 2\nassert f() == 3, 'f is wrong'\n"}, "test_x.py")
    assert result.exit_status == 1
    assert not result.passed
    assert "Traceback" in result.stderr and "AssertionError: f is wrong" in result.stderr
    assert result.limit_hit == "none"


def test_syntax_error_is_reported_not_raised():
    result = run_python({"main.py": "def broken(:\n"}, "main.py")
    assert result.exit_status == 1
    assert "SyntaxError" in result.stderr


def test_files_import_each_other_once_the_entry_adds_its_directory():
    files = {"policy.py": "def pick():\n    return 'descend'\n",
             "main.py": "import sys\nsys.path.insert(0, '.')\nimport policy\nprint(policy.pick())\n"}
    assert run_python(files, "main.py").stdout == "descend\n"


def test_working_directory_holds_only_the_files_and_is_removed():
    code = "import os\nprint(sorted(os.listdir('.')))\nprint(os.getcwd())\n"
    result = run_python({"main.py": code, "data/x.txt": "1"}, "main.py")
    listing, cwd = result.stdout.splitlines()
    assert listing == "['data', 'main.py']"
    assert os.path.isabs(cwd)
    assert not os.path.exists(cwd) and not os.path.exists(os.path.dirname(cwd))


def test_limit_defaults():
    assert SandboxLimits() == SandboxLimits(5.0, 10.0, 512 * 1024 * 1024, 64 * 1024, 1024 * 1024, 1)
    partial = SandboxLimits(cpu_seconds=2, wall_seconds=0, memory_bytes=0, output_bytes=100,
                            file_bytes=0, max_processes=0)
    chosen = SandboxLimits.with_defaults(partial)
    assert (chosen.cpu_seconds, chosen.wall_seconds, chosen.output_bytes) == (2, 10.0, 100)
    assert chosen.memory_bytes == 512 * 1024 * 1024 and chosen.max_processes == 1
    assert SandboxLimits.with_defaults(None) == SandboxLimits()


def test_negative_limit_is_invalid():
    with pytest.raises(InvalidArgument, match="limits.cpu_seconds"):
        SandboxLimits.with_defaults(SandboxLimits(cpu_seconds=-1))


@pytest.mark.parametrize("name", ["/etc/x.py", "../x.py", ""])
def test_names_outside_the_directory_are_invalid(name):
    with pytest.raises(InvalidArgument):
        run_python({name: "print(1)", "main.py": ""}, "main.py")


def test_entry_must_be_one_of_the_files():
    with pytest.raises(InvalidArgument, match="entry"):
        run_python({"main.py": "print(1)"}, "other.py")


def test_passed_needs_exit_0_and_no_limit():
    base = dict(stdout="", stderr="", wall_seconds=0.1, cpu_seconds=0.1, network_isolated=True,
                filesystem_isolated=True)
    assert SandboxResult(exit_status=0, limit_hit="none", **base).passed
    assert not SandboxResult(exit_status=0, limit_hit="output", **base).passed
    assert not SandboxResult(exit_status=-9, limit_hit="none", **base).passed


def test_concurrent_runs_stay_apart_and_a_hostile_one_does_not_hold_the_others():
    """Eight runs at once (the service's RPC threads), one of them spinning until its CPU limit: each
    normal run sees only its own files and passes; the hostile one alone reports its limit."""
    from concurrent.futures import ThreadPoolExecutor

    def normal(index: int):
        code = (f"import os\nopen('mine.txt', 'w').write('{index}')\n"
                "print(sorted(os.listdir('.')), open('mine.txt').read())\n")
        return run_python({"main.py": code}, "main.py", SandboxLimits(wall_seconds=30))

    with ThreadPoolExecutor(max_workers=8) as pool:
        hostile = pool.submit(run_python, {"main.py": "while True:\n    pass\n"}, "main.py",
                              SandboxLimits(cpu_seconds=2, wall_seconds=30))
        results = list(pool.map(normal, range(7)))
    for index, result in enumerate(results):
        assert result.passed, result
        assert result.stdout == f"['main.py', 'mine.txt'] {index}\n"
    assert hostile.result().limit_hit == "cpu"
