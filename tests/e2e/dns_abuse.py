#!/usr/bin/env python3
"""Abusive DNS clients for dns_abuse_test.sh, each bounded in count and time.

  dns_abuse.py slowloris PORT CONNS SECONDS
      CONNS TCP connections from 127.0.0.2-251 (one /24) to 127.0.0.1:PORT, each announcing
      a 256-byte message and sending one byte of it every 0.5 s; a closed connection is
      opened again (at most 20 * CONNS opens). Prints the connections open at the end
      and how many the server closed.
"""
import select
import socket
import sys
import time


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


if __name__ == "__main__":
    if sys.argv[1] == "slowloris":
        slowloris(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(__doc__)
