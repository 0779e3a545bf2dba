#!/usr/bin/python3
"""SMTP server offering STARTTLS and requiring AUTH (after TLS), for the delivery TLS suite
(Debian's python3-aiosmtpd; run with /usr/bin/python3).

Usage: tls_server.py PORT OUTDIR CERT KEY USER PASSWORD
Writes OUTDIR/ready when listening, and one JSON line per accepted message to OUTDIR/log.jsonl:
{"tls": bool, "user": str, "rcpt": [...]} (stops on SIGTERM/SIGINT).
"""
import json
import os
import ssl
import sys

from aiosmtpd.controller import Controller

sys.dont_write_bytecode = True  # importing smtp_server.py leaves no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtp_server import serve_until_stopped  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    port, outdir, cert, key, user, password = sys.argv[1:7]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            data = getattr(session, "auth_data", None)
            login = data.login.decode() if isinstance(data, LoginPassword) else None
            if not session.authenticated:
                login = None
            with open(os.path.join(outdir, "log.jsonl"), "a") as log:
                log.write(json.dumps({"tls": session.ssl is not None, "user": login,
                                      "rcpt": envelope.rcpt_tos}) + "\n")
            return "250 OK"

    serve_until_stopped(
        Controller(Handler(), hostname="127.0.0.1", port=int(port), tls_context=context,
                   require_starttls=True, authenticator=authenticate, auth_required=True,
                   auth_require_tls=True), outdir)


if __name__ == "__main__":
    main()
