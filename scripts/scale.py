"""`scripts/bench --scale`: 100,000 connections held at once by shards in six namespaced
hosts, against a group of `tcpgoon server --reuse-port` processes, merged into one report.

Why this shape: one process may open 20,000 files here, and one (source address, target)
pair has the 28,232 ephemeral ports of 32768-60999. Six client hosts (network namespaces,
each with its own address on a veth pair to the server's namespace) run one shard each:
16,667 connections, under both limits. Eight servers share the port with SO_REUSEPORT, about
12,500 each, under the open-files limit even when the kernel's hash spreads them unevenly.
Everything runs inside a fresh network namespace made for the run, and stops by itself.

What it prints (BENCHMARKS.md, "Past one machine"): the time from --start-at until the
servers together held 100,000 (their stats lines, every 100 ms), the start skew between the
shards (the merge's), the peak RSS of the shards and of the servers per held connection, and
the merged connect-latency percentiles.
"""

import json
import os
import subprocess
import sys
import threading
import time

HOSTS = 6
SERVERS = 8
CONNECTIONS = 100_000
SLEEP = "40us"
HOLD = "3s"
PORT = "5000"
SERVER_IP = "10.99.255.1"
LIMIT_SECONDS = 150


def sh(*args):
    subprocess.run(args, check=True)


def inner(tcpgoon, measure):
    """In the server's namespace: hosts, servers, shards, then the merge."""
    sh("ip", "link", "set", "lo", "up")
    for path, value in (("/proc/sys/net/core/somaxconn", "65535"),
                        ("/proc/sys/net/ipv4/tcp_max_syn_backlog", "65535")):
        with open(path, "w") as f:
            f.write(value)
    sh("ip", "addr", "add", SERVER_IP + "/32", "dev", "lo")
    hosts = [subprocess.Popen(["unshare", "--net", "sleep", str(LIMIT_SECONDS + 60)])
             for _ in range(HOSTS)]
    servers = []
    try:
        time.sleep(0.2)
        for i, host in enumerate(hosts):
            ns = f"--net=/proc/{host.pid}/ns/net"
            sh("ip", "link", "add", f"s{i}", "type", "veth", "peer", "name", f"c{i}",
               "netns", str(host.pid))
            sh("ip", "addr", "add", f"10.99.{i}.1/24", "dev", f"s{i}")
            sh("ip", "link", "set", f"s{i}", "up")
            for args in (["link", "set", "lo", "up"],
                         ["addr", "add", f"10.99.{i}.2/24", "dev", f"c{i}"],
                         ["link", "set", f"c{i}", "up"],
                         ["route", "add", SERVER_IP + "/32", "via", f"10.99.{i}.1"]):
                sh("nsenter", ns, "ip", *args)
        open_now = [0] * SERVERS
        reached = {}
        lock = threading.Lock()
        server_out = [[] for _ in range(SERVERS)]

        def follow(k, proc):
            for line in proc.stdout:
                server_out[k].append(line)
                if line.startswith("Accepted: "):
                    fields = dict(p.split(": ") for p in line.strip().split(", "))
                    with lock:
                        open_now[k] = int(fields["Open"])
                        if sum(open_now) >= CONNECTIONS and "at" not in reached:
                            reached["at"] = time.time()

        followers = []
        for k in range(SERVERS):
            # Not under `measure`: the stop signal must reach the server itself. Its peak RSS
            # is read from /proc before the stop.
            proc = subprocess.Popen(
                [tcpgoon, "server", "-b", SERVER_IP, "-p", PORT, "-m", "0",
                 "-d", f"{LIMIT_SECONDS}s", "-i", "100ms", "--backlog", "65535",
                 "--reuse-port"], stdout=subprocess.PIPE, text=True)
            servers.append(proc)
            first = proc.stdout.readline()
            if not first.startswith("listening on"):
                raise RuntimeError(f"server {k}: {first!r}")
            thread = threading.Thread(target=follow, args=(k, proc), daemon=True)
            thread.start()
            followers.append(thread)
        start = time.time() + 3.0
        start_at = f"@{start:.6f}"
        shards = [subprocess.Popen(
            ["nsenter", f"--net=/proc/{host.pid}/ns/net", measure, tcpgoon, "run", SERVER_IP,
             PORT, "-c", str(CONNECTIONS), "-s", SLEEP, "--hold", HOLD, "-y", "-i", "0",
             "--json", "--shard", f"{i}/{HOSTS}", "--start-at", start_at],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i, host in enumerate(hosts)]
        outs = [p.communicate(timeout=LIMIT_SECONDS) for p in shards]
        server_rss = []
        for proc in servers:
            with open(f"/proc/{proc.pid}/status") as f:
                server_rss.append(next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")))
            proc.terminate()
        for proc in servers:
            proc.wait(timeout=30)
        for thread in followers:
            thread.join(timeout=10)
    finally:
        for proc in servers + hosts:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def rss_kb(text):
        for line in text.splitlines():
            if line.startswith("measure: "):
                return int(line.split("maxrss_kb ")[1].split()[0])
        raise RuntimeError("no measure line in:\n" + text)

    summaries = []
    for i, (stdout, stderr) in enumerate(outs):
        lines = [l for l in stdout.splitlines() if l.startswith("{")]
        if not lines:
            raise RuntimeError(f"shard {i}: no output; stderr:\n{stderr}")
        summaries.append("\n".join(lines) + "\n")
    stream = "".join(summaries)
    merged_json = subprocess.run([tcpgoon, "merge", "--json", "-"], input=stream,
                                 capture_output=True, text=True)
    merged_text = subprocess.run([tcpgoon, "merge", "-"], input=stream,
                                 capture_output=True, text=True)
    summary = json.loads(merged_json.stdout.strip().splitlines()[-1])
    held_peak = sum(
        max((int(dict(p.split(": ") for p in l.strip().split(", "))["Open"])
             for l in out if l.startswith("Accepted: ")), default=0)
        for out in server_out)
    result = {
        "start_at": start,
        "reached_at": reached.get("at"),
        "time_to_all_s": (reached["at"] - start) if "at" in reached else None,
        "start_skew_us": summary["merged"]["start_skew_us"],
        "shard_rss_kb": [rss_kb(stdout) for stdout, _ in outs],
        "server_rss_kb": server_rss,
        "server_held_sum_of_peaks": held_peak,
        "merge_status": merged_json.returncode,
        "counts": summary["counts"],
        "connect": {k: summary["connect_latency_us"].get(k)
                    for k in ("p50", "p90", "p99", "p99_9", "max")},
        "schedule_lag_p99_us": summary["schedule_lag_us"].get("p99"),
        "dial_span_us": summary["dial_span_us"],
        "merged_text": merged_text.stdout,
    }
    print(json.dumps(result))


def outer(tcpgoon, measure):
    proc = subprocess.run(["unshare", "--net", "--", sys.executable, os.path.abspath(__file__),
                           "--inner", tcpgoon, measure], capture_output=True, text=True,
                          timeout=LIMIT_SECONDS + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"the scale run failed:\n{proc.stderr.strip()}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    held = r["counts"]["established"]
    shard_mb = sum(r["shard_rss_kb"]) / 1024
    server_mb = sum(r["server_rss_kb"]) / 1024
    c = r["connect"]
    tta = r["time_to_all_s"]
    print(f"Scale: {CONNECTIONS} connections, {HOSTS} shards in namespaced hosts, "
          f"{SERVERS} servers --reuse-port, -s {SLEEP} (whole schedule), --hold {HOLD}")
    print(f"  merged: established {held}, closed {r['counts']['closed']}, error "
          f"{r['counts']['error']}, exit status {r['merge_status']}; servers' peaks summed "
          f"{r['server_held_sum_of_peaks']}")
    print("  time to 100k held (servers' view, 100 ms lines, from --start-at): "
          + (f"{tta:.2f} s" if tta is not None else "not reached"))
    print(f"  last attempt {r['dial_span_us'] / 1e6:.2f} s after the start; "
          f"schedule lag p99 {r['schedule_lag_p99_us']} us")
    print(f"  start skew between shards: {r['start_skew_us']} us")
    print(f"  peak RSS: shards {shard_mb:.1f} MiB in all, "
          f"{sum(r['shard_rss_kb']) * 1024 / max(held, 1):.0f} B per held connection; "
          f"servers {server_mb:.1f} MiB, "
          f"{sum(r['server_rss_kb']) * 1024 / max(held, 1):.0f} B per held connection")
    print(f"  merged connect latency: p50 {c['p50']} us, p90 {c['p90']} us, p99 {c['p99']} us, "
          f"p99.9 {c['p99_9']} us, max {c['max']} us")
    print("  merged report:")
    for line in r["merged_text"].splitlines():
        print("    " + line)
    return 0 if held == CONNECTIONS and r["merge_status"] == 0 else 1


if __name__ == "__main__" and sys.argv[1:2] == ["--inner"]:
    inner(sys.argv[2], sys.argv[3])
