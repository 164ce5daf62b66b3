"""Run untrusted Python (generated code and its unit test) in a locked-down child process.

`run_python(files, entry, limits)` writes `files` into a fresh, empty temporary directory and runs
`python -I -S -B ENTRY` there (isolated mode: no site, no user site, no PYTHON* variables). The child:

* shares nothing with the service but three pipes: stdin is closed, the environment holds only
  `LANG=C.UTF-8` (no PATH, no inherited variable, so no secret leaks; as root also LD_LIBRARY_PATH
  naming the interpreter's own libraries under the run's directory), and it leads its own session
  and process group, which is killed as a whole when the run ends;
* runs under resource limits set before its interpreter starts: CPU seconds, address space, file
  size, a handful of open files, no core dumps and no new processes (RLIMIT_NPROC);
* has no network where the kernel allows a fresh network namespace (`network_isolated` says so);
* as root (CI, this machine's service), sees every mount read-only except its working directory and
  runs as its own unprivileged uid/gid (RLIMIT_NPROC does not bind root, and each run gets a uid of
  its own so that concurrent runs do not count against each other's process limit);
  `filesystem_isolated` says whether that happened. As a non-root user (a container), the service
  cannot change users or mount tables: RLIMIT_NPROC then counts every process of that user, so a
  limit of 1 still forbids any new process, the network namespace is tried through an unprivileged
  user namespace, and the child can write wherever that user can (the pod's read-only root file
  system is what confines it there, below);
* is bounded in wall time and in output, both enforced by the service while it reads the pipes.

What is not promised: files that any user may read (the project's sources, /etc/passwd) stay
readable; the guarantees are no writes outside the working directory, no secrets from the service's
environment, no unreadable files (/etc/shadow, /root), no processes, no network and bounded resources.
This is the second line of defence; generated code is first checked by the AST validator.

On a cluster
------------
The same interface maps onto a locked-down pod per run (a separate backend): the files go in a
ConfigMap or an init container's emptyDir, the pod runs `python -I -S -B ENTRY` with
`automountServiceAccountToken: false`, `runAsNonRoot: true` with a fixed high uid,
`readOnlyRootFilesystem: true` with an emptyDir (`sizeLimit` = file limit) as the only writable
path, `allowPrivilegeEscalation: false`, `capabilities: {drop: [ALL]}`, a RuntimeDefault seccomp
profile, a deny-all ingress and egress NetworkPolicy selecting the sandbox pods, CPU and memory
limits equal to `cpu_seconds` worth of quota and `memory_bytes`, a pid limit from the kubelet, and
`activeDeadlineSeconds` = `wall_seconds`. The logs are read with a byte limit; the container's exit
code and reason (OOMKilled, DeadlineExceeded) map onto `limit_hit` as below.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Literal

from maestro_common.errors import Internal, InvalidArgument

LimitName = Literal["none", "cpu", "wall", "memory", "output", "file_size"]
TRUNCATED = "\n[output truncated]\n"
CHILD_SCRIPT = Path(__file__).with_name("sandbox_child.py")
OPEN_FILES = 32
SETUP_FAILED = 125
# Each run as root gets its own uid/gid from this range, owned by no account and no file.
UID_BASE = 1_900_000_000
UID_SPAN = 50_000_000
_uids_in_use: set[int] = set()
_uids_lock = threading.Lock()


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandboxed run may use; a field of 0 means "the default" in `with_defaults`."""

    cpu_seconds: float = 5.0
    """CPU time (user + system) before SIGXCPU, rounded up to whole seconds."""
    wall_seconds: float = 10.0
    """Wall-clock time before the whole process group is killed."""
    memory_bytes: int = 512 * 1024 * 1024
    """Address space (RLIMIT_AS) of the interpreter, including its own ~30 MiB."""
    output_bytes: int = 64 * 1024
    """Bytes kept per stream (stdout, stderr); one byte more and the run is killed."""
    file_bytes: int = 1024 * 1024
    """Largest file the run may write (RLIMIT_FSIZE)."""
    max_processes: int = 1
    """RLIMIT_NPROC for the run's user; 1 = the interpreter itself and no new process or thread."""

    @classmethod
    def with_defaults(cls, partial: object | None = None) -> SandboxLimits:
        """Limits from `partial` (these limits or the proto message), 0 or missing fields defaulted."""
        chosen = {}
        for field in fields(cls):
            value = getattr(partial, field.name, 0) if partial is not None else 0
            if value < 0:
                raise InvalidArgument(f"limits.{field.name}", f"must be >= 0 (0 = default), got {value}")
            chosen[field.name] = value or field.default
        return cls(**chosen)


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run did; maps field for field onto RunTestsResponse."""

    exit_status: int
    """The exit code, or minus the signal number that ended the process."""
    stdout: str
    """Standard output, at most `output_bytes`, then a "[output truncated]" line if cut."""
    stderr: str
    """Standard error, capped the same way."""
    wall_seconds: float
    """Wall-clock time from starting the child to reaping it."""
    cpu_seconds: float
    """User + system CPU time of the child."""
    limit_hit: LimitName
    """Which limit ended or broke the run: none, cpu, wall, memory, output or file_size."""
    network_isolated: bool
    """True when the run had a network namespace of its own (no route anywhere)."""
    filesystem_isolated: bool
    """True when every mount but the working directory was read-only and the uid unprivileged."""

    @property
    def passed(self) -> bool:
        """The run exited 0 and hit no limit."""
        return self.exit_status == 0 and self.limit_hit == "none"


def run_python(files: dict[str, str], entry: str, limits: SandboxLimits | None = None) -> SandboxResult:
    """Write `files` into a fresh temporary directory and run `python -I -S -B entry` there, locked down.

    Isolated mode leaves the entry's own directory off sys.path: an entry that imports a sibling file
    starts with `sys.path.insert(0, ".")`. The temporary directory is always deleted.
    """
    limits = SandboxLimits.with_defaults(limits)
    _check_names(files, entry)
    root = Path(tempfile.mkdtemp(prefix="sandbox-"))
    uid = _take_uid() if os.geteuid() == 0 else None
    try:
        work = _prepare(root, files, uid)
        return _run(root, work, entry, limits, uid)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if uid is not None:
            with _uids_lock:
                _uids_in_use.discard(uid)


def _check_names(files: dict[str, str], entry: str) -> None:
    """Only plain relative names inside the working directory; the entry must be one of them."""
    for name in files:
        path = PurePosixPath(name)
        if not name or path.is_absolute() or ".." in path.parts or "\0" in name:
            raise InvalidArgument("files", f"{name!r} is not a relative path inside the working directory")
    if entry not in files:
        raise InvalidArgument("entry", f"{entry!r} is not one of the files given ({sorted(files)})")


def _take_uid() -> int:
    """A uid (= gid) that no other run of this service is using right now."""
    with _uids_lock:
        while True:
            uid = UID_BASE + secrets.randbelow(UID_SPAN)
            if uid not in _uids_in_use:
                _uids_in_use.add(uid)
                return uid


def _prepare(root: Path, files: dict[str, str], uid: int | None) -> Path:
    """Lay out ROOT/work (the files, owned by the run's user) and ROOT/python (a mount point)."""
    work = root / "work"
    work.mkdir(mode=0o700)
    (root / "python").mkdir(mode=0o755)
    for name, text in files.items():
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if uid is not None:
        os.chmod(root, 0o711)
        for path in [work, *work.rglob("*")]:
            os.chown(path, uid, uid)
    return work


def _child_config(root: Path, work: Path, entry: str, limits: SandboxLimits, uid: int | None,
                  status_fd: int) -> dict:
    """What sandbox_child.py needs: limits, identity, and where the interpreter is and will be."""
    prefix = Path(sys.base_prefix).resolve()
    exe = Path(sys.executable).resolve()
    inside = exe.relative_to(prefix) if exe.is_relative_to(prefix) else None
    return {
        "status_fd": status_fd,
        "work": str(work),
        "entry": entry,
        "uid": uid,
        "gid": uid,
        "env": {"LANG": "C.UTF-8"},
        "python_exe": str(exe),
        "python_source": str(prefix),
        "python_target": str(root / "python"),
        "python_target_exe": str(root / "python" / inside) if inside else str(exe),
        "library_path": str(root / "python" / "lib") if inside else "",
        "limits": {
            "cpu_seconds": limits.cpu_seconds,
            "memory_bytes": limits.memory_bytes,
            "file_bytes": limits.file_bytes,
            "max_processes": limits.max_processes,
            "open_files": OPEN_FILES,
        },
    }


def _run(root: Path, work: Path, entry: str, limits: SandboxLimits, uid: int | None) -> SandboxResult:
    """Start the child, read its output under the caps and the deadline, reap it and classify."""
    status_read, status_write = os.pipe()
    config = _child_config(root, work, entry, limits, uid, status_write)
    started = time.monotonic()
    try:
        child = subprocess.Popen(
            [str(Path(sys.executable).resolve()), "-I", "-S", "-B", str(CHILD_SCRIPT), json.dumps(config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work,
            env={"LANG": "C.UTF-8"}, start_new_session=True, close_fds=True, pass_fds=(status_write,))
    finally:
        os.close(status_write)
    with os.fdopen(status_read, "rb") as status_pipe:
        killer = _GroupKiller(child.pid)
        timer = threading.Timer(limits.wall_seconds, killer.kill, args=("wall",))
        timer.start()
        try:
            out, err = _read_capped(child, limits.output_bytes, killer)
            os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        finally:
            timer.cancel()
            killer.kill(None)
            _, wait_status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(wait_status)
            for stream in (child.stdout, child.stderr):
                stream.close()
        wall = time.monotonic() - started
        status = status_pipe.read().decode("utf-8", "replace").strip()
    if not status.startswith("ok"):
        raise Internal(f"the sandbox could not be set up ({status or 'no report'}); "
                       f"stderr: {err.decode('utf-8', 'replace')[-500:]}")
    cpu = usage.ru_utime + usage.ru_stime
    stderr_text = _text(err, limits.output_bytes)
    return SandboxResult(
        exit_status=child.returncode,
        stdout=_text(out, limits.output_bytes),
        stderr=stderr_text,
        wall_seconds=wall,
        cpu_seconds=cpu,
        limit_hit=_classify(child.returncode, killer.reason, cpu, limits, stderr_text),
        network_isolated="network=1" in status,
        filesystem_isolated="filesystem=1" in status,
    )


class _GroupKiller:
    """Kills the child's process group once, remembering why (the first reason wins)."""

    def __init__(self, pgid: int):
        self.pgid = pgid
        self.reason: str | None = None
        self._lock = threading.Lock()

    def kill(self, reason: str | None) -> None:
        """SIGKILL every process of the group; safe while the leader is unreaped (it holds the pgid)."""
        with self._lock:
            if reason is not None and self.reason is None:
                self.reason = reason
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _read_capped(child: subprocess.Popen, cap: int, killer: _GroupKiller) -> tuple[bytes, bytes]:
    """Read stdout and stderr to EOF, keeping cap + 1 bytes of each; overflow kills the group."""
    kept = {child.stdout: bytearray(), child.stderr: bytearray()}
    with selectors.DefaultSelector() as selector:
        for stream in kept:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            for key, _ in selector.select():
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = kept[key.fileobj]
                buffer += chunk[: cap + 1 - len(buffer)]
                if len(buffer) > cap:
                    killer.kill("output")
    return bytes(kept[child.stdout]), bytes(kept[child.stderr])


def _text(data: bytes, cap: int) -> str:
    """Decode captured bytes, cut to `cap` with the truncation marker when more was written."""
    if len(data) > cap:
        return data[:cap].decode("utf-8", "replace") + TRUNCATED
    return data.decode("utf-8", "replace")


def _classify(exit_status: int, killed_for: str | None, cpu: float, limits: SandboxLimits,
              stderr: str) -> LimitName:
    """Name the limit that ended or broke the run, from how it ended and what it printed."""
    if killed_for == "output":
        return "output"
    if exit_status == -signal.SIGXCPU or (exit_status == -signal.SIGKILL and cpu >= limits.cpu_seconds):
        return "cpu"
    if killed_for == "wall":
        return "wall"
    if exit_status == -signal.SIGXFSZ or "[Errno 27] File too large" in stderr:
        return "file_size"
    if "MemoryError" in stderr or "[Errno 12] Cannot allocate memory" in stderr:
        return "memory"
    return "none"
