#!/usr/bin/env python3
"""Run one command under ``/usr/bin/time -v`` and append one row to a CSV.

Recorded per run:
  wall_s       elapsed wall-clock time reported by GNU time
  maxrss_mb    GNU time's "Maximum resident set size": the largest single
               process of the tree (the command or a reaped descendant)
  tree_peak_mb peak of the *sum* of RSS over the whole process tree, sampled
               with psutil every --interval seconds (catches multi-process
               peers such as a dask LocalCluster; shared pages are counted
               once per process, and a peak shorter than the interval can
               be missed)
  user_s, sys_s, cpu_pct, major_faults, fs_in, fs_out from GNU time
  internal_s   optional: a line ``BENCH_INTERNAL {"seconds": ...}`` printed
               by the command (used by the floor probes to time only the
               interesting part, without interpreter start-up)

usage: measure.py --label NAME --run N --csv runs.csv --log run.log
                  [--timeout S] [--size-px N] -- CMD [ARG...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import psutil

FIELDS = [
    "label",
    "run",
    "rc",
    "wall_s",
    "internal_s",
    "maxrss_mb",
    "tree_peak_mb",
    "user_s",
    "sys_s",
    "cpu_pct",
    "major_faults",
    "fs_in",
    "fs_out",
    "size_px",
    "started",
    "internal_json",
    "cmd",
]


def parse_time_v(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if ": " not in line:
            continue
        key, val = line.rsplit(": ", 1)
        if key.startswith("Elapsed (wall clock) time"):
            secs = 0.0
            for part in val.split(":"):
                secs = secs * 60 + float(part)
            out["wall_s"] = secs
        elif key == "Maximum resident set size (kbytes)":
            out["maxrss_mb"] = int(val) / 1024.0
        elif key == "User time (seconds)":
            out["user_s"] = float(val)
        elif key == "System time (seconds)":
            out["sys_s"] = float(val)
        elif key == "Percent of CPU this job got":
            out["cpu_pct"] = float(val.rstrip("%") or 0)
        elif key == "Major (requiring I/O) page faults":
            out["major_faults"] = int(val)
        elif key == "File system inputs":
            out["fs_in"] = int(val)
        elif key == "File system outputs":
            out["fs_out"] = int(val)
        elif key == "Exit status":
            out["exit"] = int(val)
    return out


class TreeSampler(threading.Thread):
    def __init__(self, pid: int, interval: float):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.stop = threading.Event()

    def run(self):
        try:
            root = psutil.Process(self.pid)  # /usr/bin/time itself
        except psutil.Error:
            return
        while not self.stop.is_set():
            total = 0
            try:
                procs = root.children(recursive=True)
            except psutil.Error:
                break
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self.stop.wait(self.interval)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True)
    ap.add_argument("--run", type=int, default=1)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--size-px", type=int, default=0)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    if not cmd:
        ap.error("no command")

    os.makedirs(os.path.dirname(os.path.abspath(args.log)), exist_ok=True)
    fd, tfile = tempfile.mkstemp(prefix="timev_", suffix=".txt")
    os.close(fd)
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    rc = None
    with open(args.log, "w") as log:
        log.write(f"# {started} {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(
            ["/usr/bin/time", "-v", "-o", tfile, *cmd],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        sampler = TreeSampler(proc.pid, args.interval)
        sampler.start()
        internal = None
        deadline = time.monotonic() + args.timeout
        killer = threading.Timer(args.timeout, lambda: _kill_tree(proc.pid))
        killer.start()
        for line in proc.stdout:
            log.write(line)
            if line.startswith("BENCH_INTERNAL "):
                try:
                    internal = json.loads(line.split(" ", 1)[1])
                except ValueError:
                    pass
        rc = proc.wait()
        killer.cancel()
        sampler.stop.set()
        sampler.join()
        if time.monotonic() > deadline:
            log.write(f"\n# TIMEOUT after {args.timeout}s\n")
            rc = 124
    with open(tfile) as fh:
        tv_text = fh.read()
    os.unlink(tfile)
    with open(args.log, "a") as log:
        log.write("\n# /usr/bin/time -v\n" + tv_text)
    tv = parse_time_v(tv_text)

    row = dict(
        label=args.label,
        run=args.run,
        rc=tv.get("exit", rc),
        wall_s=tv.get("wall_s"),
        internal_s=(internal or {}).get("seconds"),
        maxrss_mb=round(tv.get("maxrss_mb", 0), 1),
        tree_peak_mb=round(sampler.peak / 2**20, 1),
        user_s=tv.get("user_s"),
        sys_s=tv.get("sys_s"),
        cpu_pct=tv.get("cpu_pct"),
        major_faults=tv.get("major_faults"),
        fs_in=tv.get("fs_in"),
        fs_out=tv.get("fs_out"),
        size_px=args.size_px,
        started=started,
        internal_json=json.dumps(internal) if internal else "",
        cmd=" ".join(cmd),
    )
    if rc == 124:
        row["rc"] = 124
    new = not os.path.exists(args.csv)
    with open(args.csv, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        if new:
            w.writeheader()
        w.writerow(row)
    print(
        f"  {args.label:<16} run {args.run}: rc={row['rc']} wall={row['wall_s']}s "
        f"maxrss={row['maxrss_mb']}MB tree={row['tree_peak_mb']}MB cpu={row['cpu_pct']}%"
        + (f" internal={row['internal_s']:.3f}s" if row["internal_s"] else ""),
        flush=True,
    )
    return 0


def _kill_tree(pid: int):
    """Kill the process tree this script started (only our own children)."""
    try:
        root = psutil.Process(pid)
        for p in [*root.children(recursive=True), root]:
            try:
                p.kill()
            except psutil.Error:
                pass
    except psutil.Error:
        pass


if __name__ == "__main__":
    sys.exit(main())
