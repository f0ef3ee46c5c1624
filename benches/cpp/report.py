#!/usr/bin/env python3
"""The report of benches/cpp/run.sh.

    report.py RESULTS               print the markdown report of a results file
    report.py --ul-json F --run R   turn one run of ul's harness (--json) into results lines

Results lines (whitespace-separated):
    row <run> <process> <name> <samples> <p50> <p75> <p90> <p99> <p99.9> <p99.99> <max>
    lines <run> <process> <found> <expected>
    info <run> <process> key=value ...
    meta <key> <text>
<process> is the logger the process ran (quill, nanolog, ul); <name> is that
logger or `floor`, timed in the same process, bursts interleaved.
"""

import json
import statistics
import sys

PCT = ["p50", "p75", "p90", "p99", "p99.9", "p99.99", "max"]
# ul's harness names the floor's row by what it is.
UL_FLOOR = "floor: 40-byte plain-store push, no consumer"


def ul_json(path, run):
    children = json.load(open(path))
    for c in children:
        rows = [r for r in c["rows"] if r["mode"] == "Burst" and r["threads"] == 1]
        for r in rows:
            if r["logger"] == "ul" and r["message"] == "int, int, double":
                name = "ul"
            elif r["logger"] == UL_FLOOR:
                name = "floor"
            else:
                continue
            ns = r["ns"]
            vals = [ns[k] for k in ("p50", "p75", "p90", "p99", "p999", "p9999", "max")]
            print("row", run, "ul", name, r["samples"], *(f"{v:.1f}" for v in vals))
        print("lines", run, "ul", c["lines_found"], c["lines_expected"])
        print("info", run, "ul", f"ticks_per_ns={c['ticks_per_ns']:.4f}", f"elapsed_s={c['elapsed_s']:.1f}")


def fmt(v):
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def report(path):
    rows = {}  # (process, run) -> {name: [samples, p...]}
    lines, infos, meta = [], {}, {}
    order = []
    for line in open(path):
        f = line.split()
        if not f:
            continue
        if f[0] == "row":
            run, proc, name = int(f[1]), f[2], f[3]
            rows.setdefault((proc, run), {})[name] = [int(f[4])] + [float(v) for v in f[5:12]]
            if proc not in order:
                order.append(proc)
        elif f[0] == "lines":
            lines.append((int(f[1]), f[2], int(f[3]), int(f[4])))
        elif f[0] == "info":
            infos[(f[2], int(f[1]))] = dict(kv.split("=", 1) for kv in f[3:] if "=" in kv)
        elif f[0] == "meta":
            meta[f[1]] = " ".join(f[2:])

    out = []
    out.append("### C++ leaders beside the floor: burst/20, `int, int, double` (ns)\n")
    for k, label in [("cpu", "machine"), ("command", "command"), ("compiler", "compiler"),
                     ("source_quill", "Quill source"), ("source_nanolog", "NanoLog source"),
                     ("source_ul", "ul source"), ("started", "started"),
                     ("wall_s", "wall time (s)")]:
        if k in meta:
            out.append(f"- {label}: {meta[k]}")
    versions = sorted({(p, i["version"]) for (p, _), i in infos.items() if "version" in i})
    if versions:
        out.append("- versions: " + ", ".join(f"{p} {v}" for p, v in versions))
    out.append(f"- load average (1, 5, 15 min) before: {meta.get('load_before', '?')}; "
               f"after: {meta.get('load_after', '?')}")
    bad = [l for l in lines if l[2] != l[3]]
    if bad:
        for run, proc, found, exp in bad:
            out.append(f"- **{proc} run {run}: {found} of {exp} lines reached the file**")
    elif lines:
        out.append(f"- every run's log file holds all its lines ({lines[0][3]} per run)")
    out.append("- each row: the median over the runs of that logger's process; the ratios: "
               "the median of each run's logger / floor of the same process")
    out.append("")
    out.append("| logger | runs | p50 | p99 | p99.9 | floor p50 | floor p99 | floor p99.9 "
               "| p50 / floor | p99 / floor | p99.9 / floor |")
    out.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    idx = {p: 1 + PCT.index(p) for p in ("p50", "p99", "p99.9")}
    for proc in order:
        runs = [v for (p, _), v in sorted(rows.items()) if p == proc and proc in v and "floor" in v]
        if not runs:
            continue
        med = lambda name, p: statistics.median(r[name][idx[p]] for r in runs)
        ratio = lambda p: statistics.median(r[proc][idx[p]] / r["floor"][idx[p]] for r in runs)
        cells = [proc, str(len(runs))]
        cells += [fmt(med(proc, p)) for p in idx]
        cells += [fmt(med("floor", p)) for p in idx]
        cells += [f"{ratio(p):.2f}" for p in idx]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("#### Every run (ns)\n")
    out.append("| process | run | row | samples | " + " | ".join(PCT) + " |")
    out.append("|---|--:|---|--:|" + "--:|" * len(PCT))
    for proc in order:
        for (p, run), v in sorted(rows.items(), key=lambda kv: kv[0][1]):
            if p != proc:
                continue
            for name in (proc, "floor"):
                if name in v:
                    s = v[name]
                    out.append(f"| {proc} | {run} | {name} | {s[0]} | "
                               + " | ".join(fmt(x) for x in s[1:]) + " |")
    print("\n".join(out))


def main(argv):
    if len(argv) == 5 and argv[1] == "--ul-json" and argv[3] == "--run":
        ul_json(argv[2], int(argv[4]))
    elif len(argv) == 2:
        report(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
