#!/usr/bin/env python3
"""Scrapers that misbehave, for `scripts/bench --scrapers`: what they cost a paced run's
start lag, through its --metrics endpoint.

    scraper.py hold PORT N [WAIT]  keeps N connections open to 127.0.0.1:PORT, each sending a
                               request head a byte every 100 ms that never ends; one the
                               endpoint closes is opened again at once. With WAIT, it waits
                               for that port instead (the control: the run's endpoint up,
                               the connections held to another listener)
    scraper.py megabyte PORT   sends a 1 MB request head (refused past 8 KiB), reads the
                               answer, and again, back to back

Either one first waits for the endpoint to listen (a connect every millisecond), and runs
until SIGTERM; then it prints one JSON line of what it did.
"""

import errno
import json
import resource
import selectors
import signal
import socket
import sys
import time

HEAD = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
stop = False


def on_term(*_):
    global stop
    stop = True


def wait_for_endpoint(port):
    """The moment the endpoint first accepts a connection (monotonic seconds)."""
    while not stop:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return time.monotonic()
        except OSError:
            time.sleep(0.001)
    return None


def hold(port, n, wait_port=None):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 100)), hard))
    began = wait_for_endpoint(wait_port or port)
    sel = selectors.DefaultSelector()
    stats = {"opened": 0, "closed_by_endpoint": 0, "connect_errors": 0, "bytes_sent": 0,
             "answers": 0}
    most_open = 0

    def open_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        code = s.connect_ex(("127.0.0.1", port))
        if code not in (0, errno.EINPROGRESS):
            stats["connect_errors"] += 1
            s.close()
            return False
        sel.register(s, selectors.EVENT_WRITE, "connecting")
        return True

    for _ in range(n):
        open_one()
    next_byte = time.monotonic() + 0.1
    while not stop and began is not None:
        timeout = max(0.0, next_byte - time.monotonic())
        for key, _ in sel.select(timeout):
            s = key.fileobj
            if key.data == "connecting":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    stats["connect_errors"] += 1
                    sel.unregister(s)
                    s.close()
                    open_one()
                    continue
                stats["opened"] += 1
                try:
                    stats["bytes_sent"] += s.send(HEAD)
                except OSError:
                    pass
                sel.modify(s, selectors.EVENT_READ, "open")
                continue
            try:
                got = s.recv(65536)
            except OSError:
                got = b""
            if got:
                stats["answers"] += 1
                continue
            # Closed by the endpoint (past its 64 at once): open another in its place.
            stats["closed_by_endpoint"] += 1
            sel.unregister(s)
            s.close()
            open_one()
        if time.monotonic() >= next_byte:
            next_byte += 0.1
            opened = 0
            for key in list(sel.get_map().values()):
                if key.data == "open":
                    opened += 1
                    try:
                        stats["bytes_sent"] += key.fileobj.send(b"x")
                    except OSError:
                        pass
            most_open = max(most_open, opened)
    # Connected, as the scraper sees it, at a tick of the slow bytes: held by the endpoint,
    # or accepted by the kernel and not yet closed by it.
    stats["most_open"] = most_open
    return stats


def megabyte(port):
    began = wait_for_endpoint(port)
    request = HEAD + b"a" * ((1 << 20) - len(HEAD))
    stats = {"requests": 0, "answered_431": 0, "other_answers": 0, "reset": 0,
             "bytes_sent": 0}
    while not stop and began is not None:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            continue
        stats["requests"] += 1
        try:
            view = memoryview(request)
            while view:
                sent = s.send(view)
                stats["bytes_sent"] += sent
                view = view[sent:]
        except OSError:
            pass
        answer = b""
        try:
            while True:
                got = s.recv(65536)
                if not got:
                    break
                answer += got
        except OSError:
            pass
        if answer.startswith(b"HTTP/1.1 431 "):
            stats["answered_431"] += 1
        elif answer:
            stats["other_answers"] += 1
        else:
            stats["reset"] += 1
        s.close()
    return stats


def main():
    signal.signal(signal.SIGTERM, on_term)
    mode, port = sys.argv[1], int(sys.argv[2])
    wait_port = int(sys.argv[4]) if len(sys.argv) > 4 else None
    stats = hold(port, int(sys.argv[3]), wait_port) if mode == "hold" else megabyte(port)
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
