"""Pod-side supervisor of one sandboxed run: PID 1 of a sandbox pod's container (standard library only).

The codegen pod sandbox (`codegen.sandbox_pod`) ships this file's text in the run's ConfigMap and
starts it as `python -I -S -B /sandbox/supervisor.py FILES_DIR WORK_DIR`. It is never imported by
the services. In order it:

1. makes itself non-dumpable, so the untrusted child (same uid) cannot open /proc/1/* (its pipes);
2. copies the run's files from FILES_DIR/code into WORK_DIR (the pod's only writable path);
3. starts FILES_DIR/sandbox_child.py exactly as the local sandbox does (resource limits, no new
   processes, no new privileges, then `exec python -I -S -B ENTRY`) in its own process group;
4. reads stdout and stderr separately, each capped at `output_bytes` (one byte more kills the group),
   and kills the group at the wall deadline;
5. prints ONE report line to its stdout (the pod log): the marker, then JSON with the exit status,
   wall and CPU seconds, why it killed the child, the child's setup status, the memory cgroup's
   OOM-kill count during the run, and both streams in base64.
"""

import base64
import ctypes
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time

PR_SET_DUMPABLE = 4
CGROUP_EVENTS = "/sys/fs/cgroup/memory.events"


def oom_kills() -> int:
    """The memory cgroup's oom_kill counter (cgroup v2), or -1 where it cannot be read."""
    try:
        with open(CGROUP_EVENTS, encoding="ascii") as events:
            return int(dict(line.split() for line in events).get("oom_kill", 0))
    except (OSError, ValueError):
        return -1


class GroupKiller:
    """Kills the child's process group, remembering the first reason."""

    def __init__(self, pgid: int):
        self.pgid, self.reason = pgid, None
        self._lock = threading.Lock()

    def kill(self, reason):
        with self._lock:
            if reason is not None and self.reason is None:
                self.reason = reason
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def read_capped(child, cap: int, killer: GroupKiller):
    """Both streams to EOF, keeping cap + 1 bytes of each; overflow kills the group."""
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


def main() -> None:
    files_dir, work = sys.argv[1], sys.argv[2]
    with open(os.path.join(files_dir, "run.json"), encoding="utf-8") as handle:
        run = json.load(handle)
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    shutil.copytree(os.path.join(files_dir, "code"), work, dirs_exist_ok=True, copy_function=shutil.copyfile)
    limits = run["limits"]
    status_read, status_write = os.pipe()
    config = {"status_fd": status_write, "work": work, "entry": run["entry"], "uid": None, "gid": None,
              "env": {"LANG": "C.UTF-8"}, "python_exe": sys.executable, "python_source": "", "python_target": "",
              "python_target_exe": sys.executable, "library_path": "",
              "limits": {key: limits[key] for key in ("cpu_seconds", "memory_bytes", "file_bytes", "max_processes")}
              | {"open_files": run["open_files"]}}
    oom_before = oom_kills()
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-I", "-S", "-B", os.path.join(files_dir, "sandbox_child.py"),
                              json.dumps(config)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=work, env={"LANG": "C.UTF-8"}, start_new_session=True,
                             pass_fds=(status_write,))
    os.close(status_write)
    killer = GroupKiller(child.pid)
    timer = threading.Timer(limits["wall_seconds"], killer.kill, args=("wall",))
    timer.start()
    try:
        out, err = read_capped(child, limits["output_bytes"], killer)
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    finally:
        timer.cancel()
        killer.kill(None)
        _, wait_status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    with os.fdopen(status_read, "rb") as status_pipe:
        status = status_pipe.read().decode("utf-8", "replace").strip()
    oom_after = oom_kills()
    report = {"exit_status": os.waitstatus_to_exitcode(wait_status), "wall_seconds": wall,
              "cpu_seconds": usage.ru_utime + usage.ru_stime, "killed_for": killer.reason, "status": status,
              "oom_kills": max(0, oom_after - oom_before) if oom_before >= 0 else 0,
              "stdout": base64.b64encode(out).decode(), "stderr": base64.b64encode(err).decode()}
    sys.stdout.write(run["marker"] + json.dumps(report) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
