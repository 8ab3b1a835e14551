#!/usr/bin/env python3
"""Peer (e) rioxarray + dask: lazy chunked read, xarray arithmetic, locked write.

Follows rioxarray's documented dask recipes:
  * --scheduler threads (default): dask's threaded scheduler, parallel reads
    (lock=False) and a threading.Lock around the GeoTIFF writes;
  * --scheduler cluster: dask.distributed LocalCluster (worker processes,
    1 thread each) with a distributed Lock around the writes.
--chunks auto (default) is open_rasterio(chunks=True): one band per chunk,
x/y sizes picked by dask ("array.chunk-size", 128 MiB) as multiples of the
512x512 tiles, which for a full Landsat scene is one chunk per band.
--chunks N uses N x N pixel chunks (N a multiple of 512 keeps them aligned).

usage: e_rioxarray_dask.py SCENE.tif OUTDIR [--scheduler threads|cluster]
                           [--chunks auto|N] [--workers 2]
"""

import argparse
import os
import threading

import dask
import rioxarray


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scene")
    ap.add_argument("outdir")
    ap.add_argument("--scheduler", choices=["threads", "cluster"], default="threads")
    ap.add_argument("--chunks", default="auto")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)

    client = cluster = None
    if args.scheduler == "cluster":
        from dask.distributed import Client, LocalCluster, Lock

        cluster = LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
        # (rioxarray's docs show Lock("rio", client=client); distributed 2026.x
        # dropped the client= argument, the lock binds to the default client)
        lock = Lock("rio-write")
    else:
        dask.config.set(scheduler="threads", num_workers=args.workers)
        lock = threading.Lock()

    chunks = (
        True if args.chunks == "auto" else {"band": 1, "y": int(args.chunks), "x": int(args.chunks)}
    )
    scene = rioxarray.open_rasterio(args.scene, chunks=chunks, masked=True, lock=False)
    blue, red, swir1, swir2 = (scene.sel(band=b) for b in (2, 4, 6, 7))
    # masked=True decodes the 0 fill to NaN, so NaN propagates through the
    # division and is encoded back to nodata=0 on write.
    ratios = {"ironox": red / blue, "clay": swir1 / swir2}
    for name, da in ratios.items():
        # the 7-band "long_name" attribute (band descriptions) survives .sel()
        # and the division and makes to_raster fail on a 1-band output.
        # (da.drop_attrs() would also strip spatial_ref's CRS: output without CRS)
        da = da.astype("float32")
        da.attrs.pop("long_name", None)
        da = da.rio.write_nodata(0, encoded=True)
        da.rio.to_raster(
            os.path.join(args.outdir, f"{name}.tif"),
            dtype="float32",
            compress="deflate",
            tiled=True,
            blockxsize=512,
            blockysize=512,
            lock=lock,
        )
    if client is not None:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
