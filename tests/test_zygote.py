"""The warm interpreter (ccattr.zygote) and its client (ccattr.launch): a stage run through them
behaves like `python SCRIPT` -- output, exit status, working directory, environment, signals --
and dies with its client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
import os, sys, time
print("out", os.getcwd(), os.environ.get("MARK"), sys.argv[1:], os.getpid(), flush=True)
print("err", file=sys.stderr, flush=True)
if sys.argv[1] == "sleep":
    open(sys.argv[2], "w").write(str(os.getpid()))
    time.sleep(60)
if sys.argv[1] == "message":
    sys.exit("bad input: nothing done")
if sys.argv[1] == "raise":
    raise ValueError("boom")
sys.exit(int(sys.argv[1]))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zyg")
    sock = Path(f"/tmp/ccattr-test-{os.getpid()}.sock")  # AF_UNIX paths are short
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ccattr.zygote", "serve", "--socket", str(sock),
                             "--preload", "json"], env=env, stderr=subprocess.PIPE, text=True)
    for _ in range(200):
        if sock.exists():
            break
        time.sleep(0.05)
    (tmp / "stage.py").write_text(SCRIPT)
    yield sock, tmp, env, proc.pid
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    assert not sock.exists()


def _launch(server, *args, env_extra=None, **kw):
    sock, tmp, env, _ = server
    env = {**env, "CCATTR_ZYGOTE": str(sock), "MARK": "m1", **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "ccattr.launch", "stage.py", *args], cwd=tmp, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_output_status_cwd_env_and_args_pass_through(server):
    proc = _launch(server, "3")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3
    _, cwd, mark, args, pid = out.split(" ", 4)
    assert (cwd, mark, args) == (str(server[1]), "m1", "['3']")
    assert int(pid) != proc.pid  # run by a child of the server, not by the client
    assert err == "err\n"


@pytest.mark.parametrize("arg, code, text", [("0", 0, ""), ("message", 1, "bad input: nothing done"),
                                              ("raise", 1, "ValueError: boom")])
def test_exit_codes_and_errors_read_like_python(server, arg, code, text):
    proc = _launch(server, arg)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code and text in err


def test_killing_the_client_kills_the_stage(server, tmp_path):
    pidfile = tmp_path / "pid"
    proc = _launch(server, "sleep", str(pidfile), start_new_session=True)
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.05)
    child = int(pidfile.read_text())
    os.killpg(proc.pid, signal.SIGKILL)  # what a SIGKILL to the `dvc repro` process group does
    proc.wait(timeout=10)
    for _ in range(100):
        if not _alive(child):
            break
        time.sleep(0.05)
    assert not _alive(child)


def test_signals_are_forwarded(server, tmp_path):
    pidfile = tmp_path / "pid"
    proc = _launch(server, "sleep", str(pidfile))
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    assert proc.returncode == 128 + signal.SIGTERM


def test_another_import_time_environment_runs_inline(server):
    proc = _launch(server, "0", env_extra={"HF_HUB_OFFLINE": "0"})
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and int(out.split()[-1]) == proc.pid  # exec'd in place


def test_without_a_server_it_is_plain_python(tmp_path):
    (tmp_path / "stage.py").write_text(SCRIPT)
    env = {**os.environ, "CCATTR_ZYGOTE": str(tmp_path / "none.sock"), "MARK": "m2"}
    proc = subprocess.run([sys.executable, "-m", "ccattr.launch", "stage.py", "4"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 4 and " m2 " in proc.stdout


def test_a_python_without_the_project_is_told_how_to_fix_it():
    # -S: no site-packages, so this interpreter cannot import ccattr (like a system python that
    # DVC picks from PATH when the venv is not activated)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-S", "stages/launch.py", "stages/check_params.py"], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot import ccattr" in proc.stderr and "source .venv/bin/activate" in proc.stderr
