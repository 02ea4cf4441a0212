"""`dvc repro` never keeps a stale result: each stage's code deps in dvc.yaml are exactly the
modules its script imports inside ``src/ccattr/``, transitively (read with ``ast``, not by running
anything). A package (``src/ccattr/notations``) is one folder dep."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PKG = SRC / "ccattr"


def _module_path(name: str) -> Path | None:
    """``ccattr.a.b`` -> its file, or its package's ``__init__.py``; None outside the project."""
    parts = name.split(".")
    if parts[0] != "ccattr":
        return None
    base = SRC.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imports(path: Path) -> set[str]:
    """Project modules named by any import in ``path`` (module level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
            # `from ccattr import notations`: the name may itself be a module
            out.update(f"{node.module}.{a.name}" for a in node.names if _module_path(f"{node.module}.{a.name}"))
    found = set()
    for name in out:
        parts = name.split(".")
        # importing ccattr.a.b runs ccattr/__init__.py and ccattr/a/__init__.py too
        found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1) if _module_path(".".join(parts[:i])))
    return found


def code_deps(script: Path) -> set[str]:
    """The dvc.yaml dep strings a stage script needs: itself, and every project module it reaches."""
    seen: set[str] = set()
    todo = list(_imports(script))
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        todo.extend(_imports(_module_path(mod)))
    deps = {script.relative_to(ROOT).as_posix()}
    for mod in seen:
        path = _module_path(mod).relative_to(ROOT)
        # a module inside a sub-package is covered by the package folder
        inner = path.relative_to("src/ccattr").parts
        deps.add(f"src/ccattr/{inner[0]}" if len(inner) > 1 else path.as_posix())
    return deps


def _stages() -> list[tuple[str, Path, set[str]]]:
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    out = []
    for name, stage in spec.items():
        body = stage.get("do", stage)
        # the launcher that starts the stage and the stage's own script: both run
        cmd = body["cmd"].replace("${training.launcher}", "python stages/launch.py")  # its default
        scripts = [ROOT / s for s in re.findall(r"stages/\w+\.py", cmd)]
        listed = {d for d in body["deps"] if d.startswith(("src/", "stages/"))}
        out.append((name, scripts, listed))
    return out


@pytest.mark.parametrize("name,scripts,listed", _stages(), ids=[s[0] for s in _stages()])
def test_stage_code_deps_are_exactly_what_it_imports(name, scripts, listed):
    needed = set().union(*(code_deps(s) for s in scripts))
    assert not needed - listed, f"dvc.yaml stage {name} misses deps it runs: {sorted(needed - listed)}"
    assert not listed - needed, f"dvc.yaml stage {name} lists code it never imports: {sorted(listed - needed)}"


def test_the_checker_sees_lazy_and_package_imports(tmp_path):
    # evaluate imports the metrics module, which reaches the notations package and the published scorer
    deps = code_deps(ROOT / "stages/evaluate.py")
    assert {"src/ccattr/metrics.py", "src/ccattr/notations", "src/ccattr/lrml_fscore.py",
            "src/ccattr/__init__.py"} <= deps
    assert not any(d.startswith("src/ccattr/notations/") for d in deps)


def test_a_params_typo_fails_plain_dvc_repro_before_any_work(tmp_path):
    from pipeline_helpers import BIN, base_env, new_project, run

    env, root = base_env(), tmp_path / "p"
    new_project(root, env, "profiles/tiny.yaml")
    run([str(BIN / "dvc"), "repro", "check_params"], root, env)  # valid: the check passes
    assert (root / "results/params/check.json").is_file()
    with open(root / "params.yaml", "a", encoding="utf-8") as f:
        f.write("trainng: {max_steps: 2}\n")  # a key no stage declares
    proc = subprocess.run([str(BIN / "dvc"), "repro"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0
    assert "trainng" in proc.stdout + proc.stderr and "Traceback" not in proc.stdout + proc.stderr
    assert not (root / "data/validated").exists() and not (root / "models").exists()  # nothing ran after it
