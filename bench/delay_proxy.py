"""A TCP proxy on loopback that delays every byte by a fixed time in each direction.

    .venv/bin/python bench/delay_proxy.py LISTEN_PORT TARGET_PORT [--delay-ms 10]

With 10 ms each way a client sees a 20 ms round trip, as to a mail server in a nearby data centre
(this kernel has no netem). Only latency is added, not a bandwidth limit: each chunk read is
stamped and written on once its time has come, while later chunks are already being read.
It prints "ready" once it listens and runs until it is terminated.
"""

import argparse
import asyncio
import socket
import time

CHUNK = 256 * 1024


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy `reader` to `writer`, each chunk `delay` seconds after it arrived."""
    queue: asyncio.Queue = asyncio.Queue()

    async def receive() -> None:
        while data := await reader.read(CHUNK):
            queue.put_nowait((time.monotonic() + delay, data))
        queue.put_nowait((time.monotonic() + delay, b""))

    receiving = asyncio.create_task(receive())
    try:
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        receiving.cancel()
        writer.close()


def nodelay(writer: asyncio.StreamWriter) -> None:
    """Send each chunk at once: Nagle's algorithm would add its own delays on top of ours."""
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def serve(listen_port: int, target_port: int, delay: float) -> None:
    """Accept connections on `listen_port` and relay each to `target_port` with the delay."""

    async def relay(client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        nodelay(client_writer)
        nodelay(server_writer)
        await asyncio.gather(
            pipe(client_reader, server_writer, delay), pipe(server_reader, client_writer, delay)
        )

    server = await asyncio.start_server(relay, "127.0.0.1", listen_port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("listen_port", type=int)
    parser.add_argument("target_port", type=int)
    parser.add_argument("--delay-ms", type=float, default=10.0, help="added in each direction")
    args = parser.parse_args()
    asyncio.run(serve(args.listen_port, args.target_port, args.delay_ms / 1000))


if __name__ == "__main__":
    main()
