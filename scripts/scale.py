"""`scripts/bench --scale [N]`: N connections (100,000 by default; 1,000,000 for the
million) held at once on this machine, with one `tcpgoon server --workers` and one
`tcpgoon run --workers`, in one fresh network namespace: no shell loops, no shards by hand.

Why this shape: one process may open 20,000 files here, so each side runs as enough worker
processes of the binary (the server's workers share the port with SO_REUSEPORT; the run's
are shards of one schedule with one start, merged by the parent). One (source, target)
pair has the 28,232 ephemeral ports of 32768-60999, so the run spreads its connections over
a block of loopback source addresses, split among its workers. The sysctls it sets are the
namespace's own: the listen backlog (somaxconn, tcp_max_syn_backlog), so a burst is queued
rather than dropped.

What it prints (BENCHMARKS.md, "Every core and past one process"): the time from the run's start until
the server held all N (its summed stats line, every 100 ms), the run's report line for the
workers, the peak RSS of each side's processes per held connection, the kernel's memory per
connection (Slab and MemAvailable from /proc/meminfo, before and with all held), and the
connect latency and start lag of the run.
"""

import json
import os
import subprocess
import sys
import threading
import time

PORT = "5000"
SLEEP = "40us"
# Server workers hold at most this many each: the kernel's hash spreads connections
# unevenly, and each has 20,000 open files.
PER_SERVER_WORKER = 16_000


def sh(*args):
    subprocess.run(args, check=True)


def meminfo():
    values = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, rest = line.split(":", 1)
            values[key] = int(rest.split()[0])
    return values


def tcp_in_use():
    """TCP sockets in use in this network namespace (/proc/net/sockstat)."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                return int(line.split()[2])
    return 0


def children(pid):
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return found


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def group_rss_kb(pid):
    """Resident memory of a parent and its workers now, and their peaks, in KiB."""
    pids = [pid] + children(pid)
    return (sum(status_kb(p, "VmRSS") for p in pids),
            sum(status_kb(p, "VmHWM") for p in pids), len(pids) - 1)


def source_block(connections):
    """The smallest loopback block whose host addresses give every connection a port."""
    needed = -(-connections // 28_000) + 1
    bits = next(b for b in range(2, 17) if (1 << b) - 2 >= needed)
    base = "127.0.1.0" if bits <= 8 else "127.1.0.0"
    return f"{base}/{32 - bits}"


def inner(tcpgoon, connections, limit_seconds):
    sh("ip", "link", "set", "lo", "up")
    sysctls = {"net.core.somaxconn": "65535", "net.ipv4.tcp_max_syn_backlog": "65535"}
    for name, value in sysctls.items():
        with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
            f.write(value)
    before = meminfo()
    server_workers = max(2, -(-connections // PER_SERVER_WORKER))
    server = subprocess.Popen(
        [tcpgoon, "server", "-p", PORT, "--workers", str(server_workers), "-m", "0",
         "-d", f"{limit_seconds}s", "-i", "100ms", "--backlog", "65535"],
        stdout=subprocess.PIPE, text=True)
    first = server.stdout.readline()
    if not first.startswith("listening on"):
        raise RuntimeError(f"server: {first!r}")
    state = {"open": 0, "reached": None, "peak": 0}
    lock = threading.Lock()
    lines = []

    def follow():
        for line in server.stdout:
            lines.append(line)
            if line.startswith("Accepted: "):
                fields = dict(p.split(": ") for p in line.strip().split(", "))
                with lock:
                    state["open"] = int(fields["Open"])
                    state["peak"] = max(state["peak"], state["open"])
                    if state["open"] >= connections and state["reached"] is None:
                        state["reached"] = time.time()

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    block = source_block(connections)
    hold = f"{max(5, connections // 50_000)}s"
    run = subprocess.Popen(
        [tcpgoon, "run", "127.0.0.1", PORT, "-c", str(connections), "-s", SLEEP,
         "--hold", hold, "-y", "-i", "1s", "--workers", "auto", "--source", block, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_lines = []

    def follow_run():
        for line in run.stdout:
            out_lines.append(line)

    run_follower = threading.Thread(target=follow_run, daemon=True)
    run_follower.start()
    # Sampled while all are held: memory of both sides and of the kernel, once the kernel
    # has every connection at both ends (the namespace's TCP sockets in use, listeners
    # aside: the server's end exists once the handshake is done, accepted or not), and
    # again when the server's process has accepted all.
    held, held_by_server = None, None
    deadline = time.time() + limit_seconds
    while run.poll() is None and time.time() < deadline:
        with lock:
            reached = state["reached"]
        sample = lambda: {"meminfo": meminfo(), "client": group_rss_kb(run.pid),  # noqa: E731
                          "server": group_rss_kb(server.pid)}
        if held is None and tcp_in_use() >= 2 * connections:
            state["kernel_reached"] = time.time()
            held = sample()
        if reached is not None and held_by_server is None:
            held_by_server = sample()
        time.sleep(0.05)
    err = run.stderr.read()
    run.wait(timeout=60)
    run_follower.join(timeout=10)
    out = "".join(out_lines)
    server.terminate()
    server.wait(timeout=60)
    follower.join(timeout=10)
    objects = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    summary = objects[-1] if objects else None
    if summary is None or summary.get("type") != "summary":
        raise RuntimeError(f"the run left no summary; stderr:\n{err}")
    result = {
        "connections": connections,
        "server_workers": server_workers,
        "source_block": block,
        "sysctls": sysctls,
        "start_at": summary.get("start_at"),
        "schedule_origin_us": summary.get("schedule_origin_us"),
        "reached_at": state["reached"],
        "kernel_reached_at": state.get("kernel_reached"),
        "hold": hold,
        "held_by_server": held_by_server and {
            "MemAvailable": held_by_server["meminfo"]["MemAvailable"],
            "Slab": held_by_server["meminfo"]["Slab"],
            "client_rss_kb": held_by_server["client"],
            "server_rss_kb": held_by_server["server"],
        },
        "server_peak_open": state["peak"],
        "before": {k: before[k] for k in ("MemAvailable", "Slab")},
        "held": held and {
            "MemAvailable": held["meminfo"]["MemAvailable"],
            "Slab": held["meminfo"]["Slab"],
            "client_rss_kb": held["client"], "server_rss_kb": held["server"],
        },
        "exit_status": run.returncode,
        "counts": summary["counts"],
        "merged": summary.get("merged"),
        "connect": {k: summary["connect_latency_us"].get(k)
                    for k in ("p50", "p90", "p99", "p99_9", "max")},
        "schedule_lag": {k: summary["schedule_lag_us"].get(k) for k in ("p50", "p99", "max")},
        "dial_span_us": summary["dial_span_us"],
        "stderr": err,
    }
    print(json.dumps(result))


def outer(tcpgoon, connections):
    limit_seconds = 120 + connections // 5_000
    proc = subprocess.run(["unshare", "--net", "--", sys.executable, os.path.abspath(__file__),
                           "--inner", tcpgoon, str(connections), str(limit_seconds)],
                          capture_output=True, text=True, timeout=limit_seconds + 180)
    if proc.returncode != 0:
        raise RuntimeError(f"the scale run failed:\n{proc.stderr.strip()}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    n = r["connections"]
    held = r["counts"]["established"]
    origin = r["schedule_origin_us"] / 1e6 if r["schedule_origin_us"] else None
    print(f"Scale: {n} connections, one `tcpgoon run --workers auto --source "
          f"{r['source_block']}` against one `tcpgoon server --workers {r['server_workers']}`, "
          f"-s {SLEEP}, --hold {r['hold']}, in one network namespace")
    print(f"  sysctls (the namespace's): "
          + ", ".join(f"{k}={v}" for k, v in r["sysctls"].items()))
    c = r["counts"]
    print(f"  run: established {held}, closed {c['closed']}, error {c['error']}, not initiated "
          f"{c['not_initiated']}; exit status {r['exit_status']}; the server's peak open "
          f"{r['server_peak_open']}")
    print(f"  the last attempt {r['dial_span_us'] / 1e6:.2f} s after the first (the schedule: "
          f"{n * 40e-6:.2f} s)")
    reached = {
        "both ends in the kernel, /proc/net/sockstat every 50 ms":
            r["kernel_reached_at"] and origin and r["kernel_reached_at"] - origin,
        "accepted and open, the server's 100 ms lines":
            r["reached_at"] and origin and r["reached_at"] - origin,
    }
    for what, at in reached.items():
        if at:
            print(f"  time from the start to all {n} held ({what}): {at:.2f} s")
        else:
            print(f"  all {n} held ({what}): not reached during the {r['hold']} hold")
    for when, h in (("when the kernel had both ends of all", r["held"]),
                    ("when the server had accepted all", r["held_by_server"])):
        if not h:
            continue
        print(f"  {when}:")
        (crss, chwm, cw), (srss, shwm, sw) = h["client_rss_kb"], h["server_rss_kb"]
        print(f"    RSS: run {crss / 1024:.0f} MiB in {cw} workers and the parent, "
              f"{crss * 1024 / max(held, 1):.0f} B per held connection (peak "
              f"{chwm * 1024 / max(held, 1):.0f} B); server {srss / 1024:.0f} MiB in {sw} "
              f"workers and the parent, {srss * 1024 / max(held, 1):.0f} B (peak "
              f"{shwm * 1024 / max(held, 1):.0f} B)")
        slab = h["Slab"] - r["before"]["Slab"]
        avail = r["before"]["MemAvailable"] - h["MemAvailable"]
        print(f"    kernel: Slab +{slab / 1024 / 1024:.2f} GiB, {slab * 1024 / max(held, 1):.0f} B "
              f"per connection (both ends); MemAvailable -{avail / 1024 / 1024:.2f} GiB, "
              f"{avail * 1024 / max(held, 1):.0f} B per connection, processes included")
    print(f"  connect latency: " + ", ".join(f"{k} {v} us" for k, v in r["connect"].items()))
    print(f"  start lag: " + ", ".join(f"{k} {v} us" for k, v in r["schedule_lag"].items()))
    m = r["merged"] or {}
    print(f"  run workers: {m.get('shards')}, {len(m.get('present', []))} reported, start skew "
          f"{m.get('start_skew_us')} us")
    return 0 if held == n and r["exit_status"] == 0 else 1


if __name__ == "__main__" and sys.argv[1:2] == ["--inner"]:
    inner(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
