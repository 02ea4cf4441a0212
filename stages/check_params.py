"""DVC stage check_params: validate the whole params.yaml whenever it changes, before any stage
works. The other stages each declare only their own sections, so without this a typo in a key no
stage reads (``trainng:``) would leave ``dvc repro`` answering "didn't change, skipping"."""

import sys

from ccattr.config import ParamsError, load_params
from ccattr.io import write_json
from ccattr.runtime import PARAMS_CHECK


def main() -> None:
    try:
        load_params()
    except ParamsError as err:
        sys.exit(f"check_params: {err}")
    # Constant content: the stages after this one depend on the file for their order only, so a
    # valid change to params.yaml reruns just the stages that read the changed section.
    write_json(PARAMS_CHECK, {"params.yaml": "valid"})


if __name__ == "__main__":
    main()
