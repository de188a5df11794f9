#!/usr/bin/env python3
"""Plots a soak's CSV (notify-chaos soak): throughput, latency p99, each daemon's RSS and the lanes' oldest age
over time, fault windows shaded.  Usage: soak-plot.py soak.csv soak.png"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1])))
t = [float(r["t"]) / 60 for r in rows]
panels = [
    ("throughput (notifications/s)", ["throughput"]),
    ("latency p99 (ms, publish to stored)", ["latency_p99_ms"]),
    ("RSS (MB)", ["rss1_mb", "rss2_mb", "rss3_mb"]),
    ("oldest job per lane (s)", ["lane_high_age_s", "lane_normal_age_s", "lane_low_age_s"]),
]
figure, axes = plt.subplots(len(panels), 1, figsize=(11, 11), sharex=True)
for axis, (title, columns) in zip(axes, panels):
    for column in columns:
        axis.plot(t, [float(r[column] or 0) for r in rows], label=column, linewidth=1)
    axis.set_title(title, fontsize=10)
    axis.grid(alpha=0.3)
    if len(columns) > 1:
        axis.legend(fontsize=8, loc="upper left")
    # Each run of rows naming the same fault is one window (the next fault may follow without a quiet row).
    start, name = None, ""
    for minute, row in zip(t + [t[-1]], rows + [{"fault": ""}]):
        if row["fault"] != name:
            if name:
                axis.axvspan(start, minute, color="red", alpha=0.12)
                axis.text(start, axis.get_ylim()[1], name, fontsize=7, va="top", color="darkred")
            start, name = minute, row["fault"]
axes[-1].set_xlabel("minutes (shaded: a fault and its recovery allowance)")
figure.tight_layout()
figure.savefig(sys.argv[2], dpi=100)
print("wrote", sys.argv[2])
