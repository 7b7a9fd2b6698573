"""A WebSocket server for tests/websocket.rs, from Debian's python3-websockets: a real
server, not one of ours. It holds at most K connections at once; past K it refuses the
upgrade with 503 (`--past-k 503`) or accepts it and closes with 1013 (`--past-k 1013`).
With --ping-interval it pings every connection and closes one whose pong does not come
within --ping-timeout. With --require NAME:VALUE it refuses with 401 a handshake without
that header. With --greet TEXT it sends TEXT as a message once a connection is upgraded.
Every message it receives it sends back. It prints `port N` once it listens on
127.0.0.1."""

import argparse
import asyncio
import http

import websockets

args = argparse.ArgumentParser()
args.add_argument("--max", type=int, required=True)
args.add_argument("--past-k", choices=["503", "1013"], default="503")
args.add_argument("--ping-interval", type=float, default=None)
args.add_argument("--ping-timeout", type=float, default=None)
args.add_argument("--require", default=None)
args.add_argument("--greet", default=None)
opts = args.parse_args()
open_now = 0


async def handler(ws, path):
    global open_now
    if open_now >= opts.max:
        await ws.close(code=1013, reason="try again later")
        return
    open_now += 1
    try:
        if opts.greet is not None:
            await ws.send(opts.greet)
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    finally:
        open_now -= 1


async def process_request(path, headers):
    if opts.require:
        name, value = opts.require.split(":", 1)
        if headers.get(name) != value:
            return http.HTTPStatus.UNAUTHORIZED, [], b"who are you\n"
    if opts.past_k == "503" and open_now >= opts.max:
        return http.HTTPStatus.SERVICE_UNAVAILABLE, [], b"full\n"
    return None


async def main():
    async with websockets.serve(
        handler,
        "127.0.0.1",
        0,
        process_request=process_request,
        ping_interval=opts.ping_interval,
        ping_timeout=opts.ping_timeout,
    ) as server:
        print("port", server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


asyncio.run(main())
