"""A loopback TCP proxy that adds a fixed delay to every request, standing in for a network.

``python -m bench.netdelay --port P --target HOST:PORT --delay-ms 5`` forwards P to the target;
every chunk the client sends waits ``delay`` before it goes on, so each round trip of a
request/response protocol (PostgreSQL's) costs ``delay`` more. Replies pass straight through.
It runs as a process of its own so its work never competes with the benchmark's interpreter.
Prints ``ready`` once it listens; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, delay: float) -> None:
    try:
        while data := await src.read(65536):
            if delay:
                await asyncio.sleep(delay)
            dst.write(data)
            await dst.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            dst.close()


async def _serve(port: int, host: str, target_port: int, delay: float) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer, delay), _pipe(up_reader, writer, 0.0))

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.netdelay", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True, help="HOST:PORT")
    parser.add_argument("--delay-ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    asyncio.run(_serve(args.port, host or "127.0.0.1", int(port), args.delay_ms / 1000))


@contextmanager
def delayed(port: int, target_host: str, target_port: int, delay_ms: float) -> Iterator[None]:
    """Run the proxy process for the duration of the block."""
    argv = [sys.executable, "-m", "bench.netdelay", "--port", str(port)]
    argv += ["--target", f"{target_host}:{target_port}", "--delay-ms", str(delay_ms)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the delay proxy did not start")
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
