#!/usr/bin/env python3
"""A legitimate DNS client for flood.sh: a low, steady rate of queries while a flood runs.

    legit_client.py ADDR PORT SOURCE QPS SECONDS

Asks ADDR:PORT for static.edge.example A from SOURCE, QPS times a second for SECONDS
(at most QPS * SECONDS queries), with a DNS cookie as a resolver sends one (RFC 7873) and
as `prewarm replay` does: the server cookie of each reply is sent back with the next
query, and a BADCOOKIE reply is retried once at once with the cookie it carries. Each
query waits up to 1 s for its reply. Prints one line:

    queries Q sent N answered A truncated T badcookie B timeouts O other R p50_ms X p99_ms Y

where "answered" counts queries that got a NOERROR reply with an A record, and "sent"
the datagrams (a BADCOOKIE retry is a second one).
"""
import os
import random
import socket
import struct
import sys
import time

NAME = b"static.edge.example"
OPT_COOKIE = 10


def query(qid, client_cookie, server_cookie):
    msg = struct.pack(">HHHHHH", qid, 0x0000, 1, 0, 0, 1)
    for label in NAME.split(b"."):
        msg += bytes([len(label)]) + label
    msg += b"\x00" + struct.pack(">HH", 1, 1)
    cookie = client_cookie + server_cookie
    option = struct.pack(">HH", OPT_COOKIE, len(cookie)) + cookie
    return msg + b"\x00" + struct.pack(">HHIH", 41, 1232, 0, len(option)) + option


def skip_name(msg, i):
    while True:
        n = msg[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += 1 + n


def parse(msg):
    """(id, flags, rcode with EDNS bits, A records, server cookie or b"")."""
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    i = 12
    for _ in range(qd):
        i = skip_name(msg, i) + 4
    a_records = 0
    rcode = flags & 0xF
    cookie = b""
    for k in range(an + ns + ar):
        i = skip_name(msg, i)
        rtype, _, ttl, rdlen = struct.unpack(">HHIH", msg[i:i + 10])
        rdata = msg[i + 10:i + 10 + rdlen]
        i += 10 + rdlen
        if k < an and rtype == 1:
            a_records += 1
        if rtype == 41:
            rcode |= (ttl >> 24) << 4
            j = 0
            while j + 4 <= len(rdata):
                code, length = struct.unpack(">HH", rdata[j:j + 4])
                if code == OPT_COOKIE and length > 8:
                    cookie = rdata[j + 12:j + 4 + length]
                j += 4 + length
    return qid, flags, rcode, a_records, cookie


def main():
    addr, port, source = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    qps, seconds = float(sys.argv[4]), float(sys.argv[5])
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(1.0)
    client_cookie = os.urandom(8)
    server_cookie = b""
    counts = dict(queries=0, sent=0, answered=0, truncated=0, badcookie=0, timeouts=0, other=0)
    latencies = []
    start = time.monotonic()
    total = int(qps * seconds)
    for n in range(total):
        due = start + n / qps
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        if time.monotonic() - start > seconds + 1:
            break
        counts["queries"] += 1
        for attempt in range(2):  # the second only after a BADCOOKIE
            qid = random.randrange(65536)
            t0 = time.monotonic()
            s.sendto(query(qid, client_cookie, server_cookie), (addr, port))
            counts["sent"] += 1
            reply = None
            while True:
                try:
                    data = s.recv(4096)
                except socket.timeout:
                    break
                if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                    reply = parse(data)
                    break
            if reply is None:
                counts["timeouts"] += 1
                break
            latencies.append(time.monotonic() - t0)
            _, flags, rcode, a_records, cookie = reply
            if cookie:
                server_cookie = cookie
            if rcode == 23 and attempt == 0:
                counts["badcookie"] += 1
                continue
            if flags & 0x0200:
                counts["truncated"] += 1
            elif rcode == 0 and a_records > 0:
                counts["answered"] += 1
            else:
                counts["other"] += 1
            break
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else -1

    print("queries %(queries)d sent %(sent)d answered %(answered)d truncated %(truncated)d badcookie %(badcookie)d "
          "timeouts %(timeouts)d other %(other)d" % counts +
          " p50_ms %.2f p99_ms %.2f" % (pct(0.5), pct(0.99)))


if __name__ == "__main__":
    main()
