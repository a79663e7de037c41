#!/usr/bin/env python3
"""Abusive DNS clients for dns_abuse_test.sh, each bounded in count and time.

  dns_abuse.py slowloris PORT CONNS SECONDS
      CONNS TCP connections from 127.0.0.2-251 (one /24) to 127.0.0.1:PORT, each announcing
      a 256-byte message and sending one byte of it every 0.5 s; a closed connection is
      opened again (at most 20 * CONNS opens). Prints the connections open at the end
      and how many the server closed.
  dns_abuse.py idle PORT CONNS NETWORKS SECONDS
      CONNS TCP connections to 127.0.0.1:PORT that never send a byte, opened one after
      the other from NETWORKS /24s (127.1.N.x, network by network: the first CONNS/NETWORKS
      from 127.1.0.0/24 ...), then held for SECONDS (never reopened). Raises RLIMIT_NOFILE
      to fit. Writes "ramped S" to stderr once all are opened (S: seconds it took). Prints
      "opened O refused R closed_within_1s Q closed_later L open_at_end E": connects that
      completed, that failed, connections the server closed within 1 s of their connect
      (refused over a cap, or evicted by a newcomer) or later, and those still open.
  dns_abuse.py flood PORT QUERIES
      QUERIES UDP queries for static.edge.example A from 127.0.0.1, each with a different
      forged client subnet (ECS) spread over the test config's networks and beyond, in
      batches of 100 whose answers are read. Prints "answered N seconds S".
  dns_abuse.py rrl ADDR PORT SOURCE QUERIES [COOKIEHEX]
      QUERIES UDP queries for static.edge.example A from SOURCE to ADDR:PORT in batches of
      100, with a COOKIE option when COOKIEHEX is given. Prints "answered N truncated T
      badcookie B seconds S": full answers, TC=1 replies, BADCOOKIE replies.
"""
import select
import socket
import struct
import sys
import time


def query(qid, ecs=None, cookie=None):
    msg = struct.pack(">HHHHHH", qid & 0xFFFF, 0x0000, 1, 0, 0, 1 if ecs or cookie else 0)
    for label in b"static.edge.example".split(b"."):
        msg += bytes([len(label)]) + label
    msg += b"\x00" + struct.pack(">HH", 1, 1)
    if cookie:
        option = struct.pack(">HH", 10, len(cookie)) + cookie
        msg += b"\x00" + struct.pack(">HHIH", 41, 1232, 0, len(option)) + option
    elif ecs:
        addr = socket.inet_aton(ecs)[:3]
        opt = struct.pack(">HBB", 1, 24, 0) + addr
        option = struct.pack(">HH", 8, len(opt)) + opt
        msg += b"\x00" + struct.pack(">HHIH", 41, 1232, 0, len(option)) + option
    return msg


def slowloris(port, conns, seconds):
    def open_one(i):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.%d" % (2 + i % 250), 0))
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        return s

    socks = [open_one(i) for i in range(conns)]
    sent_first = [False] * conns
    opens, closed = conns, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for i, s in enumerate(socks):
            dead = False
            try:
                s.send(b"\x00" if sent_first[i] else b"\x01")
                sent_first[i] = True
                r, _, _ = select.select([s], [], [], 0)
                if r and s.recv(1) == b"":
                    dead = True
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                dead = True
            if dead:
                closed += 1
                s.close()
                if opens < 20 * conns:
                    socks[i] = open_one(i)
                    sent_first[i] = False
                    opens += 1
        time.sleep(0.5)
    alive = 0
    for s in socks:
        try:
            r, _, _ = select.select([s], [], [], 0)
            if not r or s.recv(1, socket.MSG_PEEK) != b"":
                alive += 1
        except OSError:
            pass
        s.close()
    print("open %d closed_by_server %d opened %d" % (alive, closed, opens))


def idle(port, conns, networks, seconds):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = conns + 64
    if soft < want:
        # Raising the hard limit too needs root (the end-to-end tests run as root).
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    poller = select.epoll()
    socks = {}  # fd -> (socket, connect time)
    opened = refused = closed_fast = closed_later = 0
    open_now = 0
    per_net = -(-conns // networks)
    start = time.monotonic()
    end = start + 30  # the ramp's bound

    def reap(timeout):
        nonlocal closed_fast, closed_later, open_now
        for fd, _ in poller.poll(timeout):  # readable: EOF or reset, a server never speaks first
            s, t = socks.pop(fd)
            poller.unregister(fd)
            s.close()
            open_now -= 1
            if time.monotonic() - t <= 1.0:
                closed_fast += 1
            else:
                closed_later += 1

    for i in range(conns):
        if time.monotonic() >= end:
            break
        net, host = i // per_net, 1 + (i % per_net) % 250
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.1.%d.%d" % (net, host), 0))
        s.settimeout(2.0)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            refused += 1
            s.close()
            continue
        s.setblocking(False)
        opened += 1
        open_now += 1
        socks[s.fileno()] = (s, time.monotonic())
        poller.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        if i % 100 == 99:
            reap(0)
    sys.stderr.write("ramped %.2f\n" % (time.monotonic() - start))
    sys.stderr.flush()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        reap(0.1)
    reap(0)
    for s, _ in socks.values():
        s.close()
    print("opened %d refused %d closed_within_1s %d closed_later %d open_at_end %d"
          % (opened, refused, closed_fast, closed_later, open_now))


def flood(port, queries):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    bases = [(203, 0, 113), (198, 51, 100), (100, 64, 0)]
    answered = 0
    start = time.monotonic()
    for first in range(0, queries, 100):
        for q in range(first, min(first + 100, queries)):
            a, b, c = bases[q % 3]
            ecs = "%d.%d.%d.0" % (a, (b + q // 256) % 256, (c + q) % 256)
            s.sendto(query(q, ecs), ("127.0.0.1", port))
        deadline = time.monotonic() + 1.0
        got = 0
        while got < min(100, queries - first) and time.monotonic() < deadline:
            r, _, _ = select.select([s], [], [], 0.1)
            while r:
                try:
                    s.recv(4096)
                    got += 1
                except BlockingIOError:
                    break
        answered += got
    print("answered %d seconds %.2f" % (answered, time.monotonic() - start))


def rrl(addr, port, source, queries, cookie):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.setblocking(False)
    answered = truncated = badcookie = 0
    start = time.monotonic()
    for first in range(0, queries, 100):
        for q in range(first, min(first + 100, queries)):
            s.sendto(query(q, cookie=cookie), (addr, port))
        last = first + 100 >= queries
        deadline = time.monotonic() + (0.5 if last else 0.05)  # replies on loopback: < 1 ms
        while time.monotonic() < deadline:
            r, _, _ = select.select([s], [], [], 0.02)
            while r:
                try:
                    reply = s.recv(4096)
                except BlockingIOError:
                    break
                flags, ancount = struct.unpack(">H", reply[2:4])[0], struct.unpack(">H", reply[6:8])[0]
                if flags & 0x0200:
                    truncated += 1
                elif (flags & 0xF) == 7 and ancount == 0:  # 23 = BADCOOKIE: low bits 7
                    badcookie += 1
                elif ancount > 0:
                    answered += 1
    print("answered %d truncated %d badcookie %d seconds %.2f"
          % (answered, truncated, badcookie, time.monotonic() - start))


if __name__ == "__main__":
    if sys.argv[1] == "slowloris":
        slowloris(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif sys.argv[1] == "idle":
        idle(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    elif sys.argv[1] == "flood":
        flood(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "rrl":
        rrl(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]),
            bytes.fromhex(sys.argv[6]) if len(sys.argv) > 6 else None)
    else:
        sys.exit(__doc__)
