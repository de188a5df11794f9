#!/usr/bin/env python3
"""A loopback TCP proxy for fault tests: forwards 127.0.0.1:<free port> to 127.0.0.1:TARGET_PORT.

SIGUSR1 opens a black hole: nothing is forwarded in either direction and no new upstream connection is made, but no
socket is closed (no FIN, no RST) -- a network that silently drops everything. SIGUSR2 closes it again.
Prints "listening PORT" once ready.
"""
import asyncio
import signal
import sys

TARGET_PORT = int(sys.argv[1])
flowing = asyncio.Event()
flowing.set()


async def pipe(reader, writer):
    try:
        while True:
            await flowing.wait()
            data = await reader.read(65536)
            if not data:
                break
            await flowing.wait()  # read just as the hole opened: held, never delivered while it is open
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    await flowing.wait()
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", TARGET_PORT)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))


async def main():
    # A parent may start us with signals blocked (threads of a Swift test process block them): unblock ours.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM})
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, flowing.clear)
    loop.add_signal_handler(signal.SIGUSR2, flowing.set)
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print("listening", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
