"""Reads a `tcpgoon run --heartbeat … --hdr-log` log back with the Python reference
implementation of HdrHistogram (PyPI `hdrhistogram`, imported as `hdrh`), for tests/hdrh.rs.

Arguments: the log, then the run's `--json` output. The log's intervals tagged `beat` must
hold every answered beat of the summary (`beats.latency_us.count`), one interval for each
untagged one (connect latency, the same intervals), and no beat slower than the summary's
slowest (within the histogram's precision). Prints what it read; exits 1 at the first
mismatch.
"""

import json
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader


def main():
    log, output = sys.argv[1], sys.argv[2]
    with open(output, encoding="utf-8") as f:
        summary = json.loads(f.read().splitlines()[-1])
    beats = summary["beats"]["latency_us"]
    reader = HistogramLogReader(log, HdrHistogram(1, 3_600_000_000, 3))
    counts = {}
    intervals = {}
    slowest = 0
    while True:
        h = reader.get_next_interval_histogram()
        if h is None:
            break
        tag = h.get_tag()
        counts[tag] = counts.get(tag, 0) + h.get_total_count()
        intervals[tag] = intervals.get(tag, 0) + 1
        if tag == "beat" and h.get_total_count():
            slowest = max(slowest, h.get_max_value())
    print(f"intervals by tag: {intervals}, values by tag: {counts}")
    if counts.get("beat", 0) != beats["count"]:
        sys.exit(f"the beat intervals hold {counts.get('beat', 0)} beats, "
                 f"the summary {beats['count']}")
    if intervals.get("beat") != intervals.get(None):
        sys.exit("not one beat interval for each connect latency interval")
    if counts.get(None, 0) != summary["connect_latency_us"]["count"]:
        sys.exit("the untagged intervals are not the connect latencies")
    if slowest > beats["max"] * 1.001 + 1:
        sys.exit(f"a beat of {slowest}us in the log, the summary's slowest is {beats['max']}us")
    print(f"beats: {counts['beat']} in {intervals['beat']} intervals, slowest {slowest}us")


main()
