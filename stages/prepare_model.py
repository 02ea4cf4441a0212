"""DVC stage prepare_model@<scale>: materialize one base model as safetensors in models/base/<scale>/."""

import sys

from ccattr.models import prepare_base_model
from ccattr.runtime import BASE_DIR, first_work, init_stage


def main(scale: str) -> None:
    params = init_stage(f"prepare_model@{scale}")
    first_work(f"prepare_model@{scale}")
    info = prepare_base_model(scale, params.scales[scale], BASE_DIR / scale)
    print(f"{scale}: {info['n_params']:,} parameters, {info['n_layers']} layers, from {info['source']}")


if __name__ == "__main__":
    main(sys.argv[1])
