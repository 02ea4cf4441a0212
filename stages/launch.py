"""How dvc.yaml starts every stage: ``python stages/launch.py stages/<stage>.py ARGS``.

Hands the stage to the warm interpreter when one serves (see ``ccattr.launch``), else runs it as
plain ``python``. First it checks that this ``python`` has the project installed: DVC runs the
``python`` found on ``PATH``, and ``.venv/bin/dvc repro`` from a shell whose venv is not
activated would otherwise fail inside the first stage with ``No module named 'ccattr'``.
Standard library only until that check has passed.
"""

import importlib.util
import sys

if importlib.util.find_spec("ccattr") is None:
    sys.exit(f"{sys.executable} cannot import ccattr: DVC runs the `python` on your PATH, and that one is "
             f"not the project's.\nActivate the project's environment first: `source .venv/bin/activate` "
             f"(`make setup` creates it), then rerun `dvc repro`; or run `make repro`.")

from ccattr.launch import main  # noqa: E402 (after the check, on purpose)

main(sys.argv[1:])
