"""Checks tcpgoon's percentiles against the Python reference implementation of
HdrHistogram (PyPI `hdrhistogram`, imported as `hdrh`), for tests/hdrh.rs.

Reads a `tcpgoon run --json` summary on stdin and decodes its connect-latency histogram
with hdrh. Each of tcpgoon's percentiles must be the value at the ceiling rank
(ceil(q * count), as the Rust hdrhistogram crate takes it), at the top of its bucket,
clamped to the exact min and max; hdrh's own must be the value at the nearest rank
(int(q * count + 0.5)), as docs/output.md says it is. Prints one line per percentile, and
exits 1 with the first mismatch.
"""

import json
import math
import sys

from hdrh.histogram import HdrHistogram

KEYS = [("p50", 50.0), ("p75", 75.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0),
        ("p99_9", 99.9), ("p99_99", 99.99)]


def main():
    summary = json.loads(sys.stdin.read().splitlines()[-1])
    latency = summary["connect_latency_us"]
    h = HdrHistogram.decode(latency["histogram"])
    count = h.get_total_count()
    if count != latency["count"]:
        sys.exit(f"hdrh decoded {count} samples, the summary says {latency['count']}")
    # Each sample at the top of its bucket, in order.
    samples = []
    for item in h.get_recorded_iterator():
        samples += [item.value_iterated_to] * item.count_at_value_iterated_to
    assert len(samples) == count
    differ = 0
    for key, pct in KEYS:
        ceiling = samples[max(math.ceil(pct * count / 100), 1) - 1]
        nearest = samples[max(int(pct * count / 100 + 0.5), 1) - 1]
        expected = min(max(ceiling, latency["min"]), latency["max"])
        reference = h.get_value_at_percentile(pct)
        print(f"{key}: tcpgoon {latency[key]}, ceiling rank {expected}, "
              f"hdrh {reference}, nearest rank {nearest}")
        if latency[key] != expected:
            sys.exit(f"{key}: tcpgoon's {latency[key]} is not the ceiling rank's {expected}")
        if reference != nearest:
            sys.exit(f"{key}: hdrh's {reference} is not the nearest rank's {nearest}")
        differ += reference != ceiling
    print(f"percentiles where the two ranks give different samples: {differ}")


main()
