#!/usr/bin/python3
"""The SMTP server of the fault suite: test/delivery/smtp_server.py (aiosmtpd; run with Debian's
/usr/bin/python3) that also appends the Message-ID of every message it receives at DATA to
OUTDIR/ids.log, one per line, before it replies. So a message whose sender is killed while it
waits for the reply is still counted: the server has it, whatever the database recorded.

Replies are scripted by OUTDIR/control.json as in smtp_server.py ("stall_data": seconds to wait
before each DATA reply), plus "stall_rcpt": seconds to wait before each RCPT TO reply; every
RCPT TO address is appended to OUTDIR/rcpt.log when it arrives, so a test sees which message is
in flight. Usage: counting_smtp.py PORT OUTDIR   (stops on SIGTERM/SIGINT)
"""
import asyncio
import os
import re
import sys

sys.dont_write_bytecode = True  # importing smtp_server.py leaves no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "delivery"))
from smtp_server import ScriptedHandler, serve_until_stopped  # noqa: E402

from aiosmtpd.controller import Controller  # noqa: E402

MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)


class CountingHandler(ScriptedHandler):
    """Records the Message-ID of each message, then stores and answers it as ScriptedHandler does."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        """Logs the recipient (its message is now in flight), stalls if asked, answers."""
        with open(os.path.join(self.outdir, "rcpt.log"), "a") as f:
            f.write(address + "\n")
        stall = float(self.control().get("stall_rcpt", 0))
        if stall > 0:
            await asyncio.sleep(stall)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        """Logs the Message-ID before the message is stored and answered."""
        head = envelope.content.split(b"\r\n\r\n", 1)[0]
        found = MESSAGE_ID.search(head)
        with open(os.path.join(self.outdir, "ids.log"), "ab") as f:
            f.write((found.group(1) if found else b"MISSING") + b"\n")
        return await super().handle_DATA(server, session, envelope)


def main():
    """Serves on 127.0.0.1:PORT until SIGTERM; OUTDIR/ready appears once it listens."""
    port, outdir = int(sys.argv[1]), sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    serve_until_stopped(Controller(CountingHandler(outdir), hostname="127.0.0.1", port=port), outdir)


if __name__ == "__main__":
    main()
