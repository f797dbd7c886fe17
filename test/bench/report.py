#!/usr/bin/env python3
"""Turns the raw results of test/bench/run into a Markdown table with ratios
to the ceiling (versitygw alone) and PASS/MISS lines for the targets.

    report.py RAW.tsv BIG PAR_SIZE PAR "DAV_SERVERS_RUN" "DAV_SERVERS_WANTED"
"""
import csv
import os
import statistics
import sys

raw, big, par_size, par = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
dav_run = sys.argv[5].split() if len(sys.argv) > 5 else []
dav_wanted = sys.argv[6].split() if len(sys.argv) > 6 else []
MiB = 1 << 20
CHUNK = 65536 + 16  # one sealed chunk on the backend

rows = list(csv.DictReader(open(raw), delimiter="\t"))
servers, workloads = [], []
by = {}
for r in rows:
    if r["server"] not in servers:
        servers.append(r["server"])
    if r["workload"] not in workloads:
        workloads.append(r["workload"])
    by.setdefault((r["server"], r["workload"]), []).append(r)


def med(rs, f):
    return statistics.median(float(r[f]) for r in rs)


def summary(s, w):
    rs = by.get((s, w))
    if not rs:
        return None
    secs = med(rs, "secs")
    out = {
        "secs": secs,
        "ops": med(rs, "ops"),
        "bytes": med(rs, "bytes"),
        "p50": med(rs, "p50_ms"),
        "p99": med(rs, "p99_ms"),
        "rss": max(float(r["rss_kib"]) for r in rs) / 1024,
        "cpu": med(rs, "cpu_s"),
        "ccpu": med(rs, "client_cpu_s") if "client_cpu_s" in rs[0] else float("nan"),
        "pcpu": med(rs, "provider_cpu_s") if "provider_cpu_s" in rs[0] else 0.0,
        "req": med(rs, "backend_req_bytes"),
        "read": med(rs, "backend_read_bytes"),
        "reads": med(rs, "backend_reads"),
        "n": len(rs),
    }
    # Rates: the median over repetitions of each repetition's rate.
    if w in BYTES:
        out["rate"] = statistics.median(float(r["bytes"]) / float(r["secs"]) / MiB for r in rs)
    else:
        out["rate"] = statistics.median(float(r["ops"]) / float(r["secs"]) for r in rs)
    return out


BYTES = {"put-1", "get-1", "put-par", "get-par", "dav-put-1", "dav-get-1"}
UNIT = {"put-1": "MiB/s", "get-1": "MiB/s", "put-par": "MiB/s", "get-par": "MiB/s",
        "dav-put-1": "MiB/s", "dav-get-1": "MiB/s", "put-4k": "op/s", "get-4k": "op/s",
        "range-1B": "op/s", "list-4k": "keys/s", "propfind-4k": "entries/s"}
DESC = {"put-1": f"PUT 1 x {big // MiB} MiB", "get-1": f"GET 1 x {big // MiB} MiB",
        "put-par": f"PUT {par} x {par_size // MiB} MiB parallel", "get-par": f"GET {par} x {par_size // MiB} MiB parallel",
        "put-4k": "PUT 4 KiB", "get-4k": "GET 4 KiB", "list-4k": "list all 4 KiB objects",
        "range-1B": f"1-byte range GET of the {big // MiB} MiB object",
        "dav-put-1": f"WebDAV PUT {big // MiB} MiB", "dav-get-1": f"WebDAV GET {big // MiB} MiB",
        "propfind-4k": "WebDAV PROPFIND Depth 1 of the 4 KiB folder"}
CEIL, RCL = "versity", "rclone"

print("| workload | server | rate | x ceiling | x rclone | p50 ms | p99 ms | peak RSS MiB | server CPU s | provider CPU s | client CPU s |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for w in workloads:
    ceil = summary(CEIL, w)
    rcl = summary(RCL, w)
    for s in servers:
        v = summary(s, w)
        if not v:
            continue
        xc = f"{v['rate'] / ceil['rate']:.2f}" if ceil else "-"
        xr = f"{v['rate'] / rcl['rate']:.2f}" if rcl else "-"
        # Only tc-versity runs providers of its own (two versitygw processes).
        pcpu = f"{v['pcpu']:.1f}" if s in ("tc-versity", "tc-near", "tc-far") else "-"
        print(f"| {DESC.get(w, w)} | {s} | {v['rate']:.1f} {UNIT.get(w, '')} | {xc} | {xr} | "
              f"{v['p50']:.1f} | {v['p99']:.1f} | {v['rss']:.0f} | {v['cpu']:.1f} | {pcpu} | {v['ccpu']:.1f} |")
print()
if dav_wanted and not dav_run:
    print("WebDAV rows skipped: no server answered PROPFIND on its WebDAV listener.")
elif set(dav_wanted) - set(dav_run):
    print("WebDAV rows skipped for: " + " ".join(sorted(set(dav_wanted) - set(dav_run))))

v = summary("tc-local", "range-1B") or summary("tc-versity", "range-1B")
if v:
    print(f"Range GETs: twincrypt asked its backend for {v['req'] / v['ops']:.0f} bytes and read "
          f"{v['read'] / v['ops']:.0f} bytes per one-byte GET ({v['reads'] / v['ops']:.2f} backend streams per GET; "
          f"one chunk is {CHUNK} bytes), from the expvar counters twincrypt_backend_requested_bytes, "
          "twincrypt_backend_read_bytes and twincrypt_backend_reads.")
print()


def target(ok, text):
    print(f"{'PASS' if ok else 'MISS'}: {text}")


# Latency mode: providers BENCH_LATENCY_MS away in each direction.
lat = float(os.environ.get("BENCH_LATENCY_MS", "0") or 0)
if lat > 0 and "tc-far" in servers:
    rtt = 2 * lat
    print(f"Providers {lat:g} ms away each way (round trip {rtt:g} ms):")
    print()
    print("| workload | server | rate | x tc-near | x rclone | p50 ms | p50 round trips |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for w in workloads:
        near, rcl = summary("tc-near", w), summary(RCL, w)
        for s in servers:
            v = summary(s, w)
            if not v:
                continue
            xn = f"{v['rate'] / near['rate']:.2f}" if near else "-"
            xr = f"{v['rate'] / rcl['rate']:.2f}" if rcl else "-"
            rt = f"{v['p50'] / rtt:.2f}" if s != "tc-near" else "-"
            print(f"| {DESC.get(w, w)} | {s} | {v['rate']:.1f} {UNIT.get(w, '')} | {xn} | {xr} | {v['p50']:.1f} | {rt} |")
    print()
    for w, lim in (("put-4k", 1.3), ("get-4k", 1.2)):
        v = summary("tc-far", w)
        if v:
            target(v["p50"] <= lim * rtt, f"tc-far {DESC[w]} p50 is {v['p50'] / rtt:.2f} round trips (target <= {lim})")
    for w in ("put-4k", "get-4k", "put-1", "get-1"):
        v, r = summary("tc-far", w), summary(RCL, w)
        if v and r:
            target(v["rate"] >= 2 * r["rate"], f"tc-far {DESC[w]} is {v['rate'] / r['rate']:.2f}x rclone's rate (target >= 2x)")
    for w in ("put-1", "get-1"):
        v, n = summary("tc-far", w), summary("tc-near", w)
        if v and n:
            target(v["rate"] >= 0.7 * n["rate"], f"tc-far {DESC[w]} is {v['rate'] / n['rate']:.2f}x its rate without the latency (target >= 0.7x)")
    print()


for tc in ("tc-local", "tc-versity"):
    if tc not in servers:
        continue
    for w, lim in (("put-1", 2.0), ("get-1", 1.5)):
        v, c = summary(tc, w), summary(CEIL, w)
        if v and c:
            target(v["secs"] <= lim * c["secs"], f"{tc} {DESC[w]} takes {v['secs'] / c['secs']:.2f}x the ceiling's time (target <= {lim}x)")
    for w in ("put-1", "get-1", "put-4k", "get-4k"):
        v, r = summary(tc, w), summary(RCL, w)
        if v and r:
            target(v["rate"] >= 2 * r["rate"], f"{tc} {DESC[w]} is {v['rate'] / r['rate']:.2f}x rclone's rate (target >= 2x)")
    for w in ("put-1", "get-1", "range-1B", "dav-put-1", "dav-get-1"):
        v = summary(tc, w)
        if v:
            target(v["rss"] < 100, f"{tc} peak RSS during {DESC[w]}: {v['rss']:.0f} MiB (target < 100)")
    for w in ("put-par", "get-par"):
        v = summary(tc, w)
        if v:
            target(v["rss"] < 300, f"{tc} peak RSS during {DESC[w]}: {v['rss']:.0f} MiB (target < 300)")
    v = summary(tc, "range-1B")
    if v and v["ops"]:
        per = max(v["req"], v["read"]) / v["ops"]
        target(per <= 2 * CHUNK, f"{tc} one-byte range GET reads {per:.0f} backend bytes (target <= two chunks, {2 * CHUNK})")

# CPU per request of the small-object workloads, and what a rate target
# leaves of this machine's cores: client and server share them, so a rate
# is only reachable if server and client CPU per request fit the budget.
ncpu = os.cpu_count() or 1
small = [(s, w, summary(s, w)) for w in ("put-4k", "get-4k") for s in servers]
small = [(s, w, v) for s, w, v in small if v and v["ops"]]
if small:
    print()
    print(f"CPU time per request of the 4 KiB workloads ({ncpu} cores; kernel threads not counted):")
    print()
    print("| workload | server | server CPU ms | client CPU ms |")
    print("|---|---|---:|---:|")
    for s, w, v in small:
        print(f"| {DESC[w]} | {s} | {1000 * v['cpu'] / v['ops']:.2f} | {1000 * v['ccpu'] / v['ops']:.2f} |")
    print()
    for tc in ("tc-local", "tc-versity"):
        for w in ("put-4k", "get-4k"):
            v, r = summary(tc, w), summary(RCL, w)
            if not (v and r and v["ops"]):
                continue
            budget = 1000 * ncpu / (2 * r["rate"])
            used = 1000 * (v["cpu"] + v["ccpu"]) / v["ops"]
            print(f"{tc} {DESC[w]}: 2x rclone is {2 * r['rate']:.0f} op/s, leaving {budget:.2f} ms of CPU per request "
                  f"for client and server together; {tc} and the client used {used:.2f} ms.")
