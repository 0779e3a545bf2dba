#!/usr/bin/python3
"""A minimal SMTP sink for the delivery benchmark: answers every command at once, stores nothing,
counts accepted messages in OUTDIR/count on SIGTERM. It shows how much of a benchmark's time is
the Python aiosmtpd server's own. Usage: fast_sink.py PORT OUTDIR
"""
import asyncio
import os
import signal
import sys

count = 0


async def session(reader, writer):
    global count
    writer.write(b"220 sink ESMTP\r\n")
    in_data = False
    while True:
        line = await reader.readline()
        if not line:
            break
        if in_data:
            if line == b".\r\n":
                in_data = False
                count += 1
                writer.write(b"250 2.0.0 OK\r\n")
            continue
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            writer.write(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        elif verb == b"DATA":
            in_data = True
            writer.write(b"354 go ahead\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"250 OK\r\n")
        await writer.drain()
    writer.close()


async def main():
    port, outdir = int(sys.argv[1]), sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    server = await asyncio.start_server(session, "127.0.0.1", port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    with open(os.path.join(outdir, "ready"), "w") as f:
        f.write(str(os.getpid()))
    async with server:
        await stop.wait()
    with open(os.path.join(outdir, "count"), "w") as f:
        f.write(str(count))


if __name__ == "__main__":
    asyncio.run(main())
