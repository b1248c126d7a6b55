"""Kill what a driver leaves behind when it dies without cleaning up (SIGKILL, the OOM killer).

Ray's local runtime (``ray.init()`` without an address) starts processes of its own: the GCS,
the raylet, and the raylet's ``ray::DashboardAgent`` and ``ray::RuntimeEnvAgent``. A clean
``ray.shutdown()`` (normal exit, Ctrl-C) stops them all, and after a SIGKILL of the driver most
follow it, but the two agents are reparented to init and live on (about 80 MB each, measured with
Ray 2.x on Linux). :func:`watch` starts a small detached process that notes the driver's
descendants every half second and, once the driver is gone, SIGKILLs those still alive (matched
by pid *and* start time, so a pid the kernel has since reused is never touched). :func:`stop`
ends it after a clean shutdown. Linux only (it reads ``/proc``); elsewhere :func:`watch` does
nothing. The process-pool executor needs none of this: its workers watch their parent
themselves (``experiments.harness.executors.local.watch_parent``).

Run as ``python -m nasbench.parallel.reaper PID``; the module imports nothing of nasarena.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.5


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a live process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    if fields[0] == "Z":  # a zombie has already exited
        return None
    return int(fields[1]), int(fields[19])


def processes() -> dict[int, tuple[int, int]]:
    """Every live process: pid -> (parent pid, start time)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            out[int(entry)] = st
    return out


def descendants(root: int, table: dict[int, tuple[int, int]]) -> dict[int, int]:
    """pid -> start time of every descendant of ``root`` in ``table``."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in found:
            found[pid] = table[pid][1]
            todo.extend(children.get(pid, []))
    return found


def reap(known: dict[int, int]) -> list[int]:
    """SIGKILL every process of ``known`` (pid -> start time) still alive with that start time,
    and their descendants; the pids killed."""
    table = processes()
    targets = {pid: st for pid, st in known.items() if pid in table and table[pid][1] == st}
    for pid in list(targets):
        targets.update(descendants(pid, table))
    killed = []
    for pid in targets:
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except OSError:
            pass
    return killed


def main(driver: int) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop(): the driver cleaned up itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    me, known = os.getpid(), {}
    while os.getppid() == driver:  # reparented: the driver is gone
        known.update(descendants(driver, processes()))
        known.pop(me, None)
        time.sleep(POLL_S)
    reap(known)


def watch() -> subprocess.Popen | None:
    """Start the reaper for this process; None where /proc is missing."""
    if not Path("/proc/self/stat").exists():
        return None
    return subprocess.Popen(
        [sys.executable, "-m", "nasbench.parallel.reaper", str(os.getpid())],
        cwd=str(Path(__file__).resolve().parent.parent),
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in the terminal reaches the driver, not the reaper
    )


def stop(proc: subprocess.Popen | None) -> None:
    """End the reaper after a clean shutdown (it kills nothing then)."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main(int(sys.argv[1]))
