"""Run a stage script through a warm interpreter when one is serving, else as plain ``python``.

    python -m ccattr.launch stages/finetune.py lora smollm2-l30

(dvc.yaml goes through ``stages/launch.py``, which first checks that its ``python`` has ccattr.)

Every model stage of the pipeline pays for importing torch, transformers, peft, accelerate and
MLflow before it does any work: about 9 s per stage on a 2-core CPU, for 27 model stages.
``python -m ccattr.zygote serve`` (``make repro`` starts one for the run) imports them once and
forks a child per stage, which then only loads its model. With ``CCATTR_ZYGOTE`` naming the
server's socket, this client hands the script, its arguments, working directory, environment
and its own stdin/stdout/stderr to the server and waits for the child's exit status; signals it
receives are passed on, and if the client dies (a SIGKILL to the ``dvc repro`` process group)
the server kills the child. Without a server -- or when the server was started with a different
environment for the variables libraries read at import (``HF_*``, ``TORCH*``, ``OMP_*``...) --
it replaces itself with ``python SCRIPT ARGS``: the same run, only slower to start.

Standard library only: this process must start in milliseconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys

#: The environment variable holding the server's socket path.
SOCKET_ENV = "CCATTR_ZYGOTE"
#: Environment variables that libraries read when they are imported: a request whose values differ
#: from the server's runs inline, so that a warm child never sees another configuration.
IMPORT_TIME_PREFIXES = ("HF_", "TRANSFORMERS", "TORCH", "PYTORCH", "CUDA", "OMP_", "MKL", "KMP_",
                        "TOKENIZERS", "BNB_", "ACCELERATE", "PYTHON", "LD_", "MLFLOW_ENABLE")


def import_time_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_PREFIXES)}


def _inline(argv: list[str]) -> None:
    os.execv(sys.executable, [sys.executable, *argv])


def _recv_line(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data.decode()


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m ccattr.launch SCRIPT [ARGS...]")
    path = os.environ.get(SOCKET_ENV)
    if not path:
        _inline(argv)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
        socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        reply = json.loads(_recv_line(conn))
    except (OSError, ConnectionError, ValueError):
        conn.close()
        _inline(argv)  # no server, or one that went away: run it ourselves
    if "pid" not in reply:
        conn.close()
        _inline(argv)  # the server declined (another environment)
    child = reply["pid"]

    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    try:
        status = json.loads(_recv_line(conn))["exit"]
    except (OSError, ConnectionError, ValueError):
        status = 1
    sys.exit(status)


if __name__ == "__main__":
    main(sys.argv[1:])
