"""The first program of a sandboxed run: it locks itself down, then becomes the test's interpreter.

`codegen.sandbox` starts this file with the service's own base interpreter as
`python -I -S -B sandbox_child.py CONFIG_JSON`. It imports only the standard library, and in this
order it:

1. leaves the host's network (a fresh, empty network namespace) and, as root, the host's mount table
   (a private mount namespace in which every mount is read-only except the run's working directory,
   and the interpreter's install tree is bound under the run's directory so that the unprivileged
   user can reach it);
2. sets the resource limits (CPU seconds, address space, file size, open files, processes, no core);
3. as root, drops to the run's own unprivileged uid/gid with no supplementary groups;
4. forbids gaining privileges (PR_SET_NO_NEW_PRIVS), reports what it achieved on the status pipe and
   `exec`s `python -I -S -B ENTRY` in place, so nothing of this program survives.

Any failure before the `exec` is written to the status pipe as `error ...` and ends with exit 125.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_NO_NEW_PRIVS = 38
SETUP_FAILED = 125

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    """Raise OSError naming `what` when a libc call returned -1."""
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unshare(flags: int) -> bool:
    """Enter new namespaces; False when the kernel or the container does not allow it."""
    return _libc.unshare(flags) == 0


def _mount(source: str | None, target: str, flags: int) -> None:
    """mount(2) without a file system type or data, as bind mounts and remounts need."""
    src = source.encode() if source is not None else None
    _check(_libc.mount(src, target.encode(), None, ctypes.c_ulong(flags), None), f"mount {target}")


def _mount_points() -> list[tuple[str, int]]:
    """Every mount point of this mount namespace with the lock-relevant flags it has now."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as table:
        for row in table:
            fields = row.split()
            path = fields[4].encode().decode("unicode_escape")
            options = set(fields[5].split(","))
            flags = (MS_NOSUID if "nosuid" in options else 0) | (MS_NODEV if "nodev" in options else 0) \
                | (MS_NOEXEC if "noexec" in options else 0)
            points.append((path, flags))
    return points


def _lock_filesystem(work: str, python_source: str, python_target: str) -> None:
    """Make every mount read-only except `work`; bind the interpreter's tree at `python_target`."""
    _mount(None, "/", MS_REC | MS_PRIVATE)
    _mount(python_source, python_target, MS_BIND | MS_REC)
    _mount(work, work, MS_BIND)
    for path, flags in _mount_points():
        if path == work:
            _mount(None, path, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | flags)
        else:
            _mount(None, path, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | flags)
    os.chdir(work)  # the old working directory still points into the read-only mount below


def _set_limits(limits: dict) -> None:
    """Apply the run's resource limits; the CPU hard limit leaves one second for SIGXCPU to land."""
    cpu = max(1, int(limits["cpu_seconds"] + 0.999))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"], limits["open_files"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["max_processes"], limits["max_processes"]))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))


def _drop_privileges(uid: int, gid: int) -> None:
    """Become the run's own unprivileged user, with no supplementary groups."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def main() -> None:
    config = json.loads(sys.argv[1])
    status = config["status_fd"]
    try:
        as_root = os.geteuid() == 0
        network = filesystem = False
        if as_root and _unshare(CLONE_NEWNET | CLONE_NEWNS):
            network = True
            _lock_filesystem(config["work"], config["python_source"], config["python_target"])
            filesystem = True
        elif as_root:
            network = _unshare(CLONE_NEWNET)
        else:
            network = _unshare(CLONE_NEWUSER | CLONE_NEWNET)
        _set_limits(config["limits"])
        if as_root:
            _drop_privileges(config["uid"], config["gid"])
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        python = config["python_target_exe"] if filesystem else config["python_exe"]
        env = dict(config["env"])
        if filesystem and config["library_path"]:
            env["LD_LIBRARY_PATH"] = config["library_path"]
        os.write(status, f"ok network={int(network)} filesystem={int(filesystem)}\n".encode())
        os.close(status)
    except Exception as error:  # every setup failure is reported, never half-applied and run
        os.write(status, f"error {type(error).__name__}: {error}\n".encode())
        os._exit(SETUP_FAILED)
    try:
        os.execve(python, [python, "-I", "-S", "-B", config["entry"]], env)
    except OSError as error:
        os.write(2, f"sandbox: cannot start the interpreter: {error}\n".encode())
        os._exit(SETUP_FAILED)


if __name__ == "__main__":
    main()
