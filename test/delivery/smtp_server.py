#!/usr/bin/python3
"""SMTP test server for the delivery suite (Debian's python3-aiosmtpd; run with /usr/bin/python3).

Listens on 127.0.0.1:PORT and writes every message it receives at DATA to OUTDIR/NNNNNN.eml and
one JSON line per message to OUTDIR/log.jsonl ({"seq", "rcpt", "reply", "file"}), before it
replies, so a message whose reply never reaches the client is still on record.

Replies are scripted by OUTDIR/control.json, re-read at every command:
  {"rcpt": {"addr": "550 5.1.1 no such user"},      fixed reply to RCPT TO for an address
   "data": {"addr": ["451 4.3.0 busy", "250 OK"]},  replies to successive DATA for an address
   "stall_data": 30,                                 seconds to wait before any DATA reply
   "stall": {"addr": [3, 0]}}                        seconds to wait before the reply to
                                                     successive DATA for an address
Unscripted commands get 250. Usage: smtp_server.py PORT OUTDIR   (stops on SIGTERM/SIGINT)
"""
import asyncio
import json
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class ScriptedHandler:
    """Records each message to disk, then answers as control.json says."""

    def __init__(self, outdir):
        self.outdir = outdir
        self.seq = 0
        self.data_replies_used = {}
        self.stalls_used = {}
        self.lock = threading.Lock()

    def control(self):
        try:
            with open(os.path.join(self.outdir, "control.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.control().get("rcpt", {}).get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        control = self.control()
        rcpt = envelope.rcpt_tos[0].lower() if envelope.rcpt_tos else ""
        script = control.get("data", {}).get(rcpt, [])
        stalls = control.get("stall", {}).get(rcpt, [])
        with self.lock:
            used = self.data_replies_used.get(rcpt, 0)
            self.data_replies_used[rcpt] = used + 1
            reply = script[used] if used < len(script) else "250 2.0.0 OK queued"
            stalled = self.stalls_used.get(rcpt, 0)
            self.stalls_used[rcpt] = stalled + 1
            stall = float(stalls[stalled]) if stalled < len(stalls) else float(control.get("stall_data", 0))
            self.seq += 1
            seq = self.seq
        name = "%06d.eml" % seq
        with open(os.path.join(self.outdir, name), "wb") as f:
            f.write(envelope.content)
        with open(os.path.join(self.outdir, "log.jsonl"), "a") as f:
            f.write(json.dumps({"seq": seq, "mail_from": envelope.mail_from, "rcpt": envelope.rcpt_tos,
                                "reply": reply, "file": name,
                                "peer": list(session.peer) if session.peer else None}) + "\n")
        if stall > 0:
            await asyncio.sleep(stall)
        return reply


def serve_until_stopped(controller, outdir):
    """Starts the controller, writes OUTDIR/ready (the pid) once it listens, serves until SIGTERM
    or SIGINT, then stops it. Shared by the test SMTP servers."""
    controller.start()
    with open(os.path.join(outdir, "ready"), "w") as f:
        f.write(str(os.getpid()))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    controller.stop()


def main():
    port, outdir = int(sys.argv[1]), sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    serve_until_stopped(Controller(ScriptedHandler(outdir), hostname="127.0.0.1", port=port), outdir)


if __name__ == "__main__":
    main()
