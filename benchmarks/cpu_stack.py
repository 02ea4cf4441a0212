"""What a model stage costs on this machine, side by side in one run: start-up (plain ``python``
vs the warm ``ccattr.zygote``), training throughput (fp32 vs bf16-mixed, per strategy) and
attribution throughput (fp32 vs bf16-mixed, with the word-rank agreement). Prints one JSON object.

    .venv/bin/python benchmarks/cpu_stack.py --steps 12 --clauses 6

Start-up: a copy of the project with one scale (SmolLM2-135M, all 30 layers) and the three
strategies is reproduced once on a minimal budget; then each model stage is started with
``CCATTR_STOP_AT_FIRST_WORK=1`` (it exits where its work would begin) and timed from the moment
its command starts, with and without the warm interpreter (median of ``--repeats``).
Training and attribution use that project's base model and the corpus, each configuration in
a fresh subprocess, nothing else running.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ("fft", "lora", "qlora")
SCALE = "smollm2-l30"
STAGES = [*(f"finetune.py {s} {SCALE}" for s in STRATEGIES), *(f"evaluate.py {s} {SCALE}" for s in STRATEGIES),
          *(f"attribute.py {s} {SCALE}" for s in STRATEGIES), "compare.py", "report.py"]


def _run(cmd: list[str], cwd: Path, env: dict, timeout: int = 3600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc


def make_project(dest: Path, env: dict) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    if (ROOT / ".cache" / "gguf").is_dir():  # the dequantized GGUF: skip 20 s of conversion
        shutil.copytree(ROOT / ".cache" / "gguf", dest / ".cache" / "gguf", dirs_exist_ok=True)
    py = [sys.executable, "-m", "ccattr.cli"]
    profile = dest / "bench.yaml"
    profile.write_text(json.dumps({"run": {"strategies": list(STRATEGIES), "scales": [SCALE]},
                                   "training": {"max_steps": 1}, "corpus": {"max_test": 2},
                                   "attribution": {"max_clauses": 1}, "generation": {"max_new_tokens": 8}}))
    _run([*py, "profile", "apply", str(profile)], dest, env)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "bench"], ["dvc", "repro"]):
        _run(cmd, dest, env)


def startup(project: Path, env: dict, repeats: int) -> dict:
    sock = Path(tempfile.gettempdir()) / f"ccattr-bench-{os.getpid()}.sock"
    server = subprocess.Popen([sys.executable, "-m", "ccattr.zygote", "serve", "--socket", str(sock)], cwd=project,
                              env=env, stderr=subprocess.DEVNULL)
    t0 = time.perf_counter()
    while not sock.exists():
        time.sleep(0.1)
    preload_s = time.perf_counter() - t0
    out = {}
    try:
        for stage in STAGES:
            row = {}
            for mode in ("inline", "warm"):
                e = {**env, "CCATTR_STOP_AT_FIRST_WORK": "1"}
                if mode == "warm":
                    e["CCATTR_ZYGOTE"] = str(sock)
                times = []
                for _ in range(repeats):
                    t = time.perf_counter()
                    _run([sys.executable, "-m", "ccattr.launch", f"stages/{stage.split()[0]}", *stage.split()[1:]],
                         project, e)
                    times.append(time.perf_counter() - t)
                row[f"{mode}_s"] = round(statistics.median(times), 2)
            row["ratio"] = round(row["inline_s"] / row["warm_s"], 2)
            out[stage.replace(".py", "").replace(" ", "@", 1).replace(" ", "-")] = row
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"zygote_preload_s": round(preload_s, 1), "stages": out}


def train_worker(base: str, strategy: str, precision: str, steps: int, batch_size: int) -> dict:
    import torch

    from ccattr.config import LoraParams, StrategyParams, TrainingParams
    from ccattr.finetune import build_model, train
    from ccattr.io import read_jsonl
    from ccattr.precision import resolve
    from ccattr.prompts import PromptTemplate

    device = torch.device("cpu")
    prec = resolve(precision, device)
    lora = LoraParams(r=16, alpha=32, dropout=0.05)
    sp = {"fft": StrategyParams(learning_rate=5e-5), "lora": StrategyParams(learning_rate=1e-3, lora=lora),
          "qlora": StrategyParams(learning_rate=1e-3, lora=lora, quantization="nf4")}[strategy]
    rows = sorted((r for p in sorted((ROOT / "data" / "corpus").glob("*.jsonl")) for r in read_jsonl(p)),
                  key=lambda r: r["id"])[: steps * batch_size]
    model, tok = build_model(strategy, sp, base, prec, device, seed=0)
    tp = TrainingParams(max_steps=steps, batch_size=batch_size, warmup_ratio=0.0, val_fraction=0.0,
                        precision=precision)
    with tempfile.TemporaryDirectory() as ckpt:
        t = time.perf_counter()
        res = train(model, PromptTemplate(tok), rows, [], tp, sp, 0, Path(ckpt) / "c", precision=prec)
        seconds = time.perf_counter() - t
    return {"tokens_per_s": round(res.tokens / seconds, 1), "s_per_step": round(seconds / res.steps, 2),
            "final_loss": round(res.final_loss, 4), "peak_rss_mb": round(res.peak_memory_mb)}


def attr_worker(project: str, precision: str, n: int) -> dict:
    import numpy as np
    import torch

    from ccattr.attribution import Attributor
    from ccattr.config import load_params
    from ccattr.generate import generate_rules
    from ccattr.io import read_jsonl
    from ccattr.models import load_finetuned
    from ccattr.precision import resolve
    from ccattr.prompts import PromptTemplate

    os.chdir(project)
    params = load_params()
    device = torch.device("cpu")
    prec = resolve(precision, device)
    model, tok = load_finetuned("fft", params.strategies["fft"], f"models/base/{SCALE}", f"models/finetuned/fft-{SCALE}",
                                prec, device)
    template = PromptTemplate(tok, params.prompt.system, params.prompt.instruction)
    # From the corpus, spread over it: the benchmark project evaluates only 2 test clauses.
    rows = sorted((r for p in sorted(Path("data/corpus").glob("*.jsonl")) for r in read_jsonl(p)), key=lambda r: r["id"])
    clauses = [rows[i]["clause"] for i in np.linspace(0, len(rows) - 1, num=min(n, len(rows))).round().astype(int)]
    targets = generate_rules(model, template, clauses, max_new_tokens=48, precision=resolve("fp32", device))
    att = Attributor(model, tok, template, faithfulness=False, precision=prec)
    t = time.perf_counter()
    scores = [att.attribute(c, tg).norm_scores.tolist() for c, tg in zip(clauses, targets, strict=True)]
    seconds = time.perf_counter() - t
    return {"s_per_clause": round(seconds / n, 2), "scores": scores, "units": int(sum(map(len, scores))),
            "ok": bool(np.all(np.isfinite(np.concatenate(scores))))}


def _worker(args: list[str], env: dict) -> dict:
    proc = _run([sys.executable, __file__, "--worker", *args], ROOT, env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--clauses", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--worker", nargs="+")
    args = ap.parse_args()
    if args.worker:
        kind, *rest = args.worker
        res = (train_worker(rest[0], rest[1], rest[2], int(rest[3]), int(rest[4])) if kind == "train"
               else attr_worker(rest[0], rest[1], int(rest[2])))
        print(json.dumps(res))
        return
    import numpy as np
    from scipy.stats import spearmanr

    from ccattr.precision import cpu_supports_bf16

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("CCATTR_ZYGOTE", None)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        t = time.perf_counter()
        make_project(project, env)
        setup_s = time.perf_counter() - t
        out: dict = {"cpu_native_bf16": cpu_supports_bf16(), "setup_s": round(setup_s, 1),
                     "startup": startup(project, env, args.repeats), "training": {}, "attribution": {}}
        base = str(project / "models" / "base" / SCALE)
        for strategy in STRATEGIES:
            row = {p: _worker(["train", base, strategy, p, str(args.steps), str(args.batch_size)], env)
                   for p in ("fp32", "bf16-mixed")}
            row["speedup"] = round(row["bf16-mixed"]["tokens_per_s"] / row["fp32"]["tokens_per_s"], 2)
            row["final_loss_rel_diff"] = round(abs(row["bf16-mixed"]["final_loss"] - row["fp32"]["final_loss"])
                                               / row["fp32"]["final_loss"], 4)
            out["training"][strategy] = row
        att = {p: _worker(["attr", str(project), p, str(args.clauses)], env) for p in ("fp32", "bf16-mixed")}
        rhos = [spearmanr(a, b).statistic for a, b in zip(att["fp32"]["scores"], att["bf16-mixed"]["scores"],
                                                           strict=True)]
        top1 = [int(np.argmax(a) == np.argmax(b)) for a, b in zip(att["fp32"]["scores"], att["bf16-mixed"]["scores"],
                                                                  strict=True)]
        out["attribution"] = {"model": f"fft-{SCALE} (1 training step)", "clauses": len(rhos),
                              "fp32_s_per_clause": att["fp32"]["s_per_clause"],
                              "bf16_s_per_clause": att["bf16-mixed"]["s_per_clause"],
                              "speedup": round(att["fp32"]["s_per_clause"] / att["bf16-mixed"]["s_per_clause"], 2),
                              "mean_spearman": round(float(np.mean(rhos)), 4), "top1_same": f"{sum(top1)}/{len(top1)}"}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
