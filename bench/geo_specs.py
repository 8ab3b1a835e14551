#!/usr/bin/env python3
"""Write the pipeline files of the benchmark's geo rows (run with the project's venv).

  geo_ratio.yaml        the index stage on the Landsat product folder: the iron-oxide (red/blue)
                        and clay (swir1/swir2) ratios on surface reflectance, plus what geo's
                        index stage always writes (mask_reasons, the true-colour basemap, the
                        quicklook). Every mask rule except fill is off, no anomalies, zones,
                        targets or exports: the same task as the ratio peers.
  geo_ratio_stack.yaml  the same on the 7-band stack the peers read (band roles and the C2 L2
                        scaling given in the file, as bench/run_geo_index.sh does).
  geo_alteration.yaml   the shipped pipelines/landsat_alteration.yaml unchanged except for its
                        inputs (the product folder and the bench licences); field exports on.
  geo_pipeline.yaml     the shipped pipelines/landsat_prospectivity.yaml unchanged except for
                        its inputs: the product folder, the bench licences (licence_id, holder,
                        status, expiry), occurrences and faults; field exports on.

Paths are absolute; the output folder is given on the command line (geo run --out).

usage: geo_specs.py --product DIR --stack FILE --bundle DIR --spec-dir DIR
"""

from __future__ import annotations

import argparse
import copy
import os
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
ROLES = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]
MASKS_OFF = {
    "qa": [],
    "saturation": False,
    "ndvi_max": None,
    "mndwi_max": None,
    "dark_albedo": None,
    "buffer_px": 0,
    "buffer_rules": [],
}


def index_spec(scene: dict) -> dict:
    doc = yaml.safe_load((REPO / "pipelines" / "landsat_alteration.yaml").read_text())
    doc.update(
        name="bench-index-stage",
        indices=["iron_oxide", "clay_hydroxyl"],
        anomalies={},
        export={"formats": []},
        masks=dict(MASKS_OFF),
    )
    doc.pop("output", None)
    doc["inputs"] = {"scene": scene}
    doc["targets"].update(iron=[], clay=[])
    return doc


def _licences(bundle: str) -> dict:
    """The bench licence layer as a pipeline's ``inputs.licences``."""
    fields = {key: key for key in ("licence_id", "holder", "status", "expiry")}
    return {"path": os.path.join(bundle, "licences.gpkg"), "layer": "licences", "fields": fields}


def alteration_spec(product: str, bundle: str) -> dict:
    """The shipped pipelines/landsat_alteration.yaml on the bench product, field exports on."""
    doc = yaml.safe_load((REPO / "pipelines" / "landsat_alteration.yaml").read_text())
    doc["name"] = "bench-alteration"
    doc.pop("output", None)
    doc["inputs"] = {"scene": {"path": product}, "licences": _licences(bundle)}
    return doc


def pipeline_spec(product: str, bundle: str) -> dict:
    doc = yaml.safe_load((REPO / "pipelines" / "landsat_prospectivity.yaml").read_text())
    doc = copy.deepcopy(doc)
    doc["name"] = "bench-prospectivity"
    doc.pop("output", None)
    doc["inputs"] = {
        "scene": {"path": product},
        "licences": _licences(bundle),
        "occurrences": {"path": os.path.join(bundle, "occurrences.gpkg"), "layer": "occurrences"},
    }
    for _name, ev in doc["evidence"].items():
        if "vector" in ev:
            ev["vector"] = os.path.join(bundle, "faults.gpkg")
            ev["vector_layer"] = "faults"
    return doc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--product", required=True)
    ap.add_argument("--stack", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--spec-dir", required=True)
    a = ap.parse_args(argv)
    os.makedirs(a.spec_dir, exist_ok=True)
    specs = {
        "geo_ratio": index_spec({"path": os.path.abspath(a.product)}),
        "geo_ratio_stack": index_spec(
            {
                "path": os.path.abspath(a.stack),
                "roles": ROLES,
                "sensor": "landsat_oli",
                "scale": 2.75e-05,
                "offset": -0.2,
            }
        ),
        "geo_pipeline": pipeline_spec(os.path.abspath(a.product), os.path.abspath(a.bundle)),
        "geo_alteration": alteration_spec(os.path.abspath(a.product), os.path.abspath(a.bundle)),
    }
    for name, doc in specs.items():
        path = os.path.join(a.spec_dir, f"{name}.yaml")
        with open(path, "w") as fh:
            fh.write(f"# written by bench/geo_specs.py for the benchmark's {name} row\n")
            yaml.safe_dump(doc, fh, sort_keys=False)
        print(path)


if __name__ == "__main__":
    main()
