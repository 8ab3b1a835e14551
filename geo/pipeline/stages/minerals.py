"""``minerals``: mineral and assemblage maps of an imaging-spectrometer scene.

Runs on ``Scene.spectra`` (EMIT, EnMAP, PRISMA; see :mod:`geo.io.readers`) where the mask
reasons leave the pixel valid: the best mineral of each group (:func:`~geo.spectral.minerals.
identify_minerals`), the diagnostic features' band depth and position (:func:`~geo.spectral.
continuum.feature_maps`), and the alteration assemblage of every pixel
(:func:`~geo.spectral.minerals.assemblage_map`). Each assemblage becomes binary evidence for
the zones (zone ``kind`` = the assemblage) and a raster ``assemblage_<name>`` holding the band
depth of the pixel's mineral, for the prospectivity evidence.
"""

from __future__ import annotations

import xarray as xr

from geo.errors import InvalidParameterError
from geo.export.qgis import MINERAL_COLOURS
from geo.io.layers import open_run_layer
from geo.io.writers import RasterLayer, write_rasters
from geo.pipeline.spec import PipelineSpec
from geo.pipeline.stages.base import PixelStage, RunContext, required

__all__ = ["MineralsStage"]


def _colormap(codes: dict[int, str]) -> dict[int, tuple[int, int, int, int]]:
    """GDAL colour table: each named code in its colour, 0 (none) and 255 (masked) clear."""
    table = {0: (0, 0, 0, 0), 255: (0, 0, 0, 0)}
    for code, name in codes.items():
        if code not in (0, 255):
            table[code] = (*MINERAL_COLOURS.get(name, (128, 128, 128)), 255)
    return table


class MineralsStage(PixelStage):
    """Mineral maps (VNIR, SWIR), feature rasters and assemblage evidence."""

    name = "minerals"

    def configured(self, spec: PipelineSpec) -> bool:
        """Tell whether the pipeline has a ``minerals`` section."""
        return spec.minerals is not None

    def run(self, ctx: RunContext) -> None:
        """Write the mineral, feature and assemblage rasters and their legends."""
        from geo.spectral.continuum import feature_maps
        from geo.spectral.minerals import (
            ASSEMBLAGE_CLASSES,
            assemblage_legend,
            assemblage_map,
            identify_minerals,
            mineral_legend,
        )

        opts = required(ctx.spec.minerals, "pipeline section minerals")
        spectra = getattr(ctx.scene, "spectra", None)
        if spectra is None:
            raise InvalidParameterError(
                f"minerals: the scene {ctx.scene_id or ''} ({ctx.sensor}) has no imaging-"
                "spectrometer cube; the minerals section needs an EMIT, EnMAP or PRISMA scene "
                "(give one with --scene, or remove the section for multispectral scenes)."
            )
        rasters = required(ctx.rasters, "ctx.rasters")
        excluded = required(ctx.reasons, "ctx.reasons") != 0
        excluded = excluded.assign_coords(y=spectra["y"].values, x=spectra["x"].values)
        layers: dict[str, RasterLayer] = {}
        maps: dict[str, xr.Dataset] = {}
        legends = {}
        for group in opts.groups:
            found = identify_minerals(
                spectra,
                group,
                fit_floor=opts.min_fit,
                depth_floor=opts.min_depth,
                mask=excluded,
            )
            maps[group] = found
            codes = {int(k): str(v) for k, v in found["mineral"].attrs["codes"].items()}
            legends[group] = found["mineral"].attrs["legend"]
            layers[f"mineral_{group}"] = RasterLayer(
                _plain(found["mineral"]),
                "uint8",
                255,
                True,
                f"{group.upper()} mineral code (0 none, 255 masked; legend mineral_{group}.csv)",
                colormap=_colormap(codes),
            )
            layers[f"fit_{group}"] = RasterLayer(
                _plain(found["fit"]), description=f"{group.upper()} mineral fit (0-1)"
            )
        if opts.features:
            feats = feature_maps(spectra.where(~excluded), opts.features, skip_unmeasurable=False)
            for name in opts.features:
                layers[f"bd_{name}"] = RasterLayer(
                    _plain(feats[f"bd_{name}"]), description=f"band depth of {name}"
                )
                layers[f"pos_{name}"] = RasterLayer(
                    _plain(feats[f"pos_{name}"]),
                    description=f"wavelength of the {name} minimum (nm)",
                )
        swir = maps.get("swir")
        vnir = maps.get("vnir")
        if swir is None and vnir is None:  # (the spec needs one group; keep mypy honest)
            return
        base = swir if swir is not None else vnir
        assert base is not None
        classes = assemblage_map(
            base["mineral"], vnir["mineral"] if (vnir is not None and swir is not None) else None
        )
        # the strength of an assemblage pixel: the band depth of the mineral that named it
        depth = base["depth"].fillna(0)
        if vnir is not None and swir is not None:
            from_vnir = (swir["mineral"] == 0) | (swir["mineral"] == 255)
            depth = xr.where(from_vnir, vnir["depth"].fillna(0), depth)
        wanted = {a: ASSEMBLAGE_CLASSES.index(a) + 1 for a in opts.assemblages}
        for name, code in wanted.items():
            layers[f"assemblage_{name}"] = RasterLayer(
                _plain(xr.where(classes == code, depth, 0.0).astype("float32")),
                description=f"{name}: band depth of its mineral (0 elsewhere)",
            )
        write_rasters(layers, rasters)
        for group in legends:  # code, mineral, group (the mineral's alteration assemblage)
            mineral_legend(group).to_csv(rasters / f"mineral_{group}.csv", index=False)
        ctx.methods["minerals"] = {
            "library": "geo/data/library_usgs_hyperspectral.csv (USGS splib07, convolved to "
            "the scene's band centres and FWHM)",
            "groups": list(opts.groups),
            "fit_floor": opts.min_fit,
            "depth_floor": opts.min_depth,
            "features": list(opts.features),
            "assemblages": {a: int(c) for a, c in wanted.items()},
            "assemblage_codes": assemblage_legend().to_dict("records"),
            "bands_dropped": {g: list(m.attrs.get("dropped", [])) for g, m in maps.items()},
        }
        for name in wanted:
            strength = open_run_layer(rasters / f"assemblage_{name}.tif", ctx.chunk)
            ctx.binary[name] = (strength > 0, {"strength": strength})


def _plain(layer: xr.DataArray) -> xr.DataArray:
    """Return ``layer`` without the attributes the writer must not copy (legends, codes)."""
    out = layer.copy()
    out.attrs = {}
    return out
