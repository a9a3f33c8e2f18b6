"""Real-data check: a model trained on the mock SMC sky without parallax scores the Gaia
field on 47 Tuc (../shared/data/real/gaia_field_47tuc.csv).

Usage: python scripts/real_47tuc.py [--csv PATH] [--n-stars N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gpu_mc.backend import get_backend
from gpu_mc.config import Config
from gpu_mc.features import required_inputs
from gpu_mc.io.readers import read_gaia_table
from gpu_mc.model.checkpoint import save_model
from gpu_mc.pipeline import score, simulate, train
from gpu_mc.progress import Reporter
from gpu_mc.validate.motion_groups import MotionGroup, classify_groups

FEATURES = ("x", "y", "mu_x", "mu_y", "g")
GROUPS = [
    MotionGroup("moving with 47 Tuc (MW)", 5.25, -2.53, 1.0, expect_member=False),
    MotionGroup("moving with the SMC", 0.70, -1.20, 0.6, expect_member=True),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--csv", type=Path, default=Path("../shared/data/real/gaia_field_47tuc.csv"))
    ap.add_argument("--n-stars", type=int, default=500_000)
    ap.add_argument("--out", type=Path, default=Path("gpu_mc_out/47tuc"))
    args = ap.parse_args()
    cfg = Config().replace(
        sky={"cloud": "smc", "n_stars": args.n_stars}, features={"names": FEATURES}
    )
    backend, rep = get_backend("auto"), Reporter()
    trained = train(simulate(cfg, backend, rep), cfg, backend, rep)
    save_model(trained.model, args.out / "model")
    field = read_gaia_table(args.csv, required=required_inputs(FEATURES))
    field = {k: backend.xp.asarray(v) for k, v in field.items()}
    scores = score(field, trained.model, cfg, rep)
    result = {
        "n_field": len(field["ra"]),
        "features": FEATURES,
        "test_roc_auc": trained.test_curves.roc_auc(),
        "thresholds": trained.thresholds,
        "groups": {
            sample: classify_groups(field["pmra"], field["pmdec"], scores[f"in_{sample}"], GROUPS)
            for sample in ("complete", "optimal")
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
