#!/usr/bin/python3
"""Checks messages the test SMTP server stored, as RFC 5322 / MIME, with Python's email package.

Usage: check_messages.py EXPECT.json
EXPECT.json: [{"file": "OUTDIR/000001.eml", "to": ..., "from_name": ..., "from_addr": ...,
               "subject": ..., "message_id": ..., "preheader": ... or null,
               "html_contains": ... or null, "text_contains": ..., "multipart": true}]
Prints one line per check: "ok NAME" or "fail NAME: why".
"""
import email
import email.policy
import email.utils
import json
import re
import sys


def report(ok, name, why=""):
    print(("ok %s" % name) if ok else ("fail %s: %s" % (name, why)))


def check_raw(raw, label):
    lines = raw.split(b"\r\n")
    report(b"\n" not in raw.replace(b"\r\n", b""), label + " CRLF line ends only", "bare LF or CR found")
    head, _, body = raw.partition(b"\r\n\r\n")
    # 78 is a SHOULD (RFC 5322 2.1.1); only a line that is one unbreakable word may pass it
    long_lines = [l for l in head.split(b"\r\n") if len(l) > 78 and b" " in l.strip()]
    report(not long_lines, label + " header lines <= 78 where foldable", repr(long_lines[:1]))
    report(all(len(l) <= 998 for l in raw.split(b"\r\n")), label + " every line <= 998")
    report(all(b < 128 for b in raw), label + " 7-bit clean", "8-bit byte found")
    # every body line of a quoted-printable part: at most 76 characters
    longest_body = max((len(l) for l in body.split(b"\r\n")), default=0)
    report(longest_body <= 76, label + " body lines <= 76 (quoted-printable)", "longest %d" % longest_body)
    return lines


def check_message(expect):
    label = expect["label"]
    with open(expect["file"], "rb") as f:
        raw = f.read()
    check_raw(raw, label)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    defects = list(msg.defects)
    for part in msg.walk():
        defects += list(part.defects)
    report(not defects, label + " parses without defects", repr(defects))
    report(msg["To"] == expect["to"], label + " To", "%r" % msg["To"])
    name, addr = email.utils.parseaddr(str(msg["From"]))
    report(name == expect["from_name"] and addr == expect["from_addr"], label + " From (display name decoded)",
           "%r %r" % (name, addr))
    report(str(msg["Subject"]) == expect["subject"], label + " Subject decoded", "%r" % str(msg["Subject"]))
    if any(ord(c) > 127 for c in expect["subject"]):
        report(re.search(rb"^Subject: =\?UTF-8\?B\?", raw, re.M) is not None,
               label + " Subject as RFC 2047 encoded-word", "raw subject not encoded")
    report(email.utils.parsedate_to_datetime(str(msg["Date"])) is not None, label + " Date parses")
    report(str(msg["Message-ID"]) == expect["message_id"], label + " Message-ID is the stored one",
           "%r vs %r" % (msg["Message-ID"], expect["message_id"]))
    report(msg["MIME-Version"] == "1.0", label + " MIME-Version")
    lu = str(msg.get("List-Unsubscribe", ""))
    report(re.search(r"<https://[^>]+token=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+>", lu) is not None and "<mailto:" in lu,
           label + " List-Unsubscribe https + mailto", lu)
    report(msg.get("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click", label + " List-Unsubscribe-Post")
    if expect.get("multipart", True):
        report(msg.get_content_type() == "multipart/alternative", label + " multipart/alternative",
               msg.get_content_type())
        parts = [p.get_content_type() for p in msg.iter_parts()]
        report(parts == ["text/plain", "text/html"], label + " text then HTML part", repr(parts))
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        if expect.get("preheader"):
            m = re.search(r'<div style="display:none;[^"]*">([^<]*)</div>', html)
            report(m is not None and m.group(1) == expect["preheader"] and html.index(m.group(0)) < html.index(expect["html_contains"]),
                   label + " preheader hidden before the content", html[:200])
        report(expect["html_contains"] in html, label + " HTML body", html[:200])
        report(expect["text_contains"] in text, label + " text body", text[:200])
    else:
        report(msg.get_content_type() == "text/plain", label + " single text/plain", msg.get_content_type())
        report(expect["text_contains"] in msg.get_content(), label + " text body")
    for part in msg.walk():
        if not part.is_multipart():
            report(part.get_content_charset() == "utf-8" and part["Content-Transfer-Encoding"] == "quoted-printable",
                   label + " " + part.get_content_type() + " UTF-8 quoted-printable")


def main():
    with open(sys.argv[1]) as f:
        for expect in json.load(f):
            check_message(expect)


if __name__ == "__main__":
    main()
