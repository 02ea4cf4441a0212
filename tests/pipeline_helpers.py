"""Helpers for the pipeline tests: a committed copy of the project, subprocess runs, ports, a warm
interpreter."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(cmd: list[str], cwd: Path, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def copy_project(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def base_env() -> dict:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def new_project(root: Path, env: dict, *profiles: str) -> None:
    """A committed copy of the project with the given profiles applied (what a user's clone is)."""
    root.mkdir(parents=True)
    copy_project(root)
    for profile in profiles:
        run([sys.executable, "-m", "ccattr.cli", "profile", "apply", profile], root, env)
    run(["git", "init", "-q"], root, env)
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "project"], root, env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_SOCKETS = itertools.count()


@contextlib.contextmanager
def warm_interpreter(env: dict) -> Iterator[dict]:
    """``env`` with ``CCATTR_ZYGOTE`` naming a warm interpreter (ccattr.zygote) that serves while
    inside: stages launched by ``dvc`` fork from it, as under ``make repro`` and
    ``scripts/retrain.sh``, instead of importing torch & co. each (seconds per stage)."""
    sock = Path(tempfile.gettempdir()) / f"ccattr-test-{os.getpid()}-{next(_SOCKETS)}.sock"  # AF_UNIX paths are short
    proc = subprocess.Popen([sys.executable, "-m", "ccattr.zygote", "serve", "--socket", str(sock),
                             "--idle-timeout", "3600"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not sock.exists():  # bound once the libraries are imported
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the warm interpreter did not start (exit status {proc.poll()})")
            time.sleep(0.1)
        yield {**env, "CCATTR_ZYGOTE": str(sock)}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server stops, its children with it, and unlinks the socket
        deadline = time.monotonic() + 10
        while sock.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        # The interpreter's own exit (torch & co. loaded) takes seconds and leaves nothing to keep.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
