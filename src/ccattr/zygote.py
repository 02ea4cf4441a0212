"""A warm interpreter for the pipeline's stages: import the heavy libraries once, fork per stage.

    python -m ccattr.zygote serve --socket .cache/zygote.sock    # make repro runs it for the run
    CCATTR_ZYGOTE=.cache/zygote.sock dvc repro                     # stages go through ccattr.launch

The server imports torch, transformers (and the model classes the pipeline uses), peft,
bitsandbytes, accelerate, MLflow, sentence-transformers, pandas and scipy -- never ccattr's own
modules, so a child always runs the code on disk -- then waits on a Unix socket. For each
request of :mod:`ccattr.launch` it forks a child that takes over the client's stdin, stdout and
stderr, working directory, environment and arguments and runs the script as ``__main__``; the
server reports the child's exit status, and kills the child if the client goes away. One thread
only (forking a multi-threaded process is unsafe), and no torch operation runs before a fork, so
the children start their own thread pools.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path

from ccattr.launch import import_time_env

#: What the children would otherwise import first, in about 7 s on a 2-core CPU.
PRELOAD = ("torch", "transformers", "transformers.modeling_utils", "transformers.models.llama.modeling_llama",
           "transformers.models.gemma3.modeling_gemma3", "peft", "bitsandbytes", "accelerate", "mlflow",
           "mlflow.tracking", "sentence_transformers", "pandas", "pyarrow.parquet", "scipy.stats",
           "rapidfuzz", "sacrebleu", "lark", "matplotlib.pyplot", "great_expectations")


def preload(modules=PRELOAD) -> dict[str, str]:
    """Import ``modules``; return those that failed (optional ones may be absent)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    failed = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 (a child imports it again and reports properly)
            failed[name] = f"{type(err).__name__}: {err}"
    return failed


#: True in a stage process forked from the server (``ccattr.runtime`` says so in its start-up line).
FORKED = False


def _run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the stage process and never return."""
    # The server runs as `python -m ccattr.zygote`, i.e. as __main__: mark the module stages import.
    importlib.import_module("ccattr.zygote").FORKED = True
    code = 1
    try:
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setpgid(0, 0)  # its own group: the server's signals are not its signals
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        script, *args = request["argv"]
        sys.argv = [script, *args]
        sys.path[0] = str(Path(script).resolve().parent)
        import runpy

        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # noqa: BLE001 (report like the interpreter does)
            import traceback

            traceback.print_exc()
            code = 1
        import atexit
        import logging

        atexit._run_exitfuncs()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def serve(path: str | os.PathLike, idle_timeout: float | None = None, modules=PRELOAD) -> None:
    """Serve requests on ``path`` until SIGTERM/SIGINT (or ``idle_timeout`` seconds without one),
    after importing ``modules``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    env_at_import = import_time_env(dict(os.environ))
    t0 = time.perf_counter()
    failed = preload(modules)
    print(f"ccattr zygote: preloaded in {time.perf_counter() - t0:.1f} s"
          + (f" (not available: {', '.join(failed)})" if failed else "") + f"; serving on {path}",
          file=sys.stderr, flush=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chmod(path, 0o600)  # the requesting user only
    server.listen(16)
    running: dict[socket.socket, int] = {}  # client connection -> child pid
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    last = time.monotonic()
    try:
        while not stop:
            ready, _, _ = select.select([server, *running], [], [], 0.2)
            for conn in ready:
                if conn is server:
                    _accept(server, running, env_at_import)
                    last = time.monotonic()
                elif not conn.recv(1, socket.MSG_PEEK):  # the client is gone: so is its child
                    _kill(running.pop(conn))
                    conn.close()
            for conn, pid in list(running.items()):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    code = os.waitstatus_to_exitcode(status)
                    with contextlib.suppress(OSError):  # a client that left: nobody to tell
                        conn.sendall(json.dumps({"exit": code if code >= 0 else 128 - code}).encode() + b"\n")
                    conn.close()
                    del running[conn]
                    last = time.monotonic()
            if idle_timeout and not running and time.monotonic() - last > idle_timeout:
                break
    finally:
        for conn, pid in running.items():
            _kill(pid)
            conn.close()
        server.close()
        path.unlink(missing_ok=True)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _accept(server: socket.socket, running: dict, env_at_import: dict[str, str]) -> None:
    conn, _ = server.accept()
    try:
        msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        while not msg.endswith(b"\n"):
            more = conn.recv(1 << 20)
            if not more:
                raise ConnectionError
            msg += more
        request = json.loads(msg)
    except (OSError, ConnectionError, ValueError):
        conn.close()
        return
    if import_time_env(request["env"]) != env_at_import or len(fds) != 3:
        conn.sendall(b'{"declined": "environment"}\n')  # the client runs the stage itself
        conn.close()
        for fd in fds:
            os.close(fd)
        return
    pid = os.fork()
    if pid == 0:
        server.close()
        conn.close()
        _run_child(request, fds)
    for fd in fds:
        os.close(fd)
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    running[conn] = pid


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ccattr.zygote", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="preload the libraries and serve stage requests")
    s.add_argument("--socket", default=".cache/zygote.sock")
    s.add_argument("--idle-timeout", type=float, default=None,
                   help="exit after this many seconds without a request")
    s.add_argument("--preload", default=",".join(PRELOAD), help="comma-separated modules to import first")
    args = ap.parse_args(argv)
    serve(args.socket, args.idle_timeout, tuple(m for m in args.preload.split(",") if m))


if __name__ == "__main__":
    main()
