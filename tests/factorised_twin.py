"""Write a factorised (bottleneck) twin of a built model's plain TDNN: the same function, other layers.

    python tests/factorised_twin.py MODEL_DIR OUT_DIR

Each plain layer W (hidden x 3*hidden) becomes W itself as the "linear" part (bottleneck = hidden,
no bias) followed by an identity affine carrying the bias; BatchNorms are copied. The twin's
am/final.mdl must therefore make libvosk hear exactly what the original hears. Runs in its own
process: torch and libvosk must not share one (their thread pools can deadlock).
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def main(src: Path, dst: Path) -> None:
    import numpy as np
    import torch
    from models.build import kaldi_format as kf
    from models.build.__main__ import TINY, floored_priors, scaled_priors
    from models.build.features import NUM_CEPS
    from models.build.nnet import export_layers, make_model

    manifest = json.loads((src / "manifest.json").read_text())
    work = src.parent / (src.name + ".work")
    units = len(manifest["phones"])
    hidden = TINY.train.hidden
    plain = make_model(NUM_CEPS, units, hidden)
    plain.load_state_dict(torch.load(work / "network.pt"))
    twin = make_model(NUM_CEPS, units, hidden, bottleneck=hidden)
    with torch.no_grad():
        twin.convs[0].load_state_dict(plain.convs[0].state_dict())
        for k in range(1, 5):
            linear, affine = twin.convs[2 * k - 1], twin.convs[2 * k]
            linear.weight.copy_(plain.convs[k].weight)
            affine.weight.copy_(torch.eye(hidden).unsqueeze(-1))
            affine.bias.copy_(plain.convs[k].bias)
        twin.norms.load_state_dict(plain.norms.state_dict())
        twin.out.load_state_dict(plain.out.state_dict())
        twin.mean.copy_(plain.mean)
        twin.std.copy_(plain.std)
    priors = scaled_priors(floored_priors(np.load(work / "phone_counts.npy")), manifest["prior_scale"])
    shutil.copytree(src, dst)
    (dst / "am" / "final.mdl").write_bytes(kf.final_mdl(units, NUM_CEPS, export_layers(twin), priors))
    print(json.dumps([layer.name for layer in export_layers(twin)]))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
