#!/usr/bin/env python3
"""Writes fuzz/corpus/answer/: seed inputs for fuzz/dns_answer_fuzz.cc, in its input format
(read that file's Input uses: snapshot, rate limits, then queries). Run from anywhere:
    python3 fuzz/make_answer_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "answer")
NAMES = ["static", "STATIC", "www", "video", "api", "nosuch", "apex", "ns1", "deep", "nsother",
         "examplecom", "outside", "ViDeO", "root"]
TYPES = {"A": 0, "AAAA": 1, "ANY": 4, "NS": 5, "SOA": 6, "TXT": 7, "AXFR": 8, "OPT": 9}
SOURCES = ["127.0.0.1", "127.0.1.9", "192.0.2.7", "198.51.100.7", "203.0.113.200",
           "100.64.0.1", "81.2.69.160", "175.16.199.1", "2001:db8:1::5", "::1",
           "2001:db8:ffff::1", "89.160.20.112"]
REGIONS = ["frankfurt", "virginia", "singapore", "saopaulo", "atlantis"]
TEMPLATES = ["static", "video", "api", "retired"]


def node(region, v6=False, room=False, templates=("static",), dlat=0, dlon=0):
    bits = (1 if v6 else 0) | (2 if room else 0)
    for t in templates:
        bits |= 4 << TEMPLATES.index(t)
    return bytes([REGIONS.index(region), bits, dlat & 0xFF, dlon & 0xFF])


def inst(tmpl, node_index, ready, load=0):
    return bytes([TEMPLATES.index(tmpl) | (4 if ready else 0), node_index, load])


def snapshot(nodes, instances):
    out = bytes([len(nodes)]) + b"".join(nodes)
    if nodes:
        out += bytes([len(instances)]) + b"".join(instances)
    return out


def query(source, name="static", qtype="A", tcp=False, advance=0, slow_clock=False,
          random=0x123456789ABCDEF, burst=0, qid=0x1234, rd=True, edns=None):
    """edns: None, or dict(size=1232, do=False, ecs=(v6, addr_bytes16, v4_int, prefix)
    or ('raw', bytes), cookie=None|'new'|'reuse'|('junk', size)|('raw', bytes))."""
    ctl = (1 if tcp else 0) | (8 if slow_clock else 0)
    if burst:
        ctl |= 4 | ((burst - 1) << 4)
    out = bytes([ctl, SOURCES.index(source), advance]) + struct.pack(">Q", random)
    out += struct.pack(">H", qid) + bytes([1 if rd else 0, NAMES.index(name), TYPES[qtype]])
    if edns is None:
        return out + b"\x00"
    flags = 1 | (4 if edns.get("do") else 0)
    body = struct.pack(">H", edns.get("size", 1232))
    ecs = edns.get("ecs")
    if ecs is not None and ecs[0] == "raw":
        flags |= 2 << 3
        body += bytes([len(ecs[1])]) + ecs[1]
    elif ecs is not None:
        v6, b16, v4, prefix = ecs
        flags |= 1 << 3
        body += bytes([1 if v6 else 0]) + b16 + (b"" if v6 else struct.pack(">I", v4)) + bytes([prefix])
    cookie = edns.get("cookie")
    if cookie == "new":
        flags |= 1 << 5
        body += b"clientck"
    elif cookie == "reuse":
        flags |= 3 << 5
    elif isinstance(cookie, tuple) and cookie[0] == "junk":
        flags |= 5 << 5
        body += b"clientck" + bytes([cookie[1] - 8]) + bytes(range(cookie[1]))
    elif isinstance(cookie, tuple) and cookie[0] == "raw":
        flags |= 6 << 5
        body += bytes([len(cookie[1])]) + cookie[1]
    return out + bytes([flags]) + body


def raw(source, data, tcp=False):
    return bytes([2 | (1 if tcp else 0), SOURCES.index(source), 0]) + bytes(8) + \
        struct.pack(">H", len(data)) + data


def v4(a, b, c, d):
    return (a << 24) | (b << 16) | (c << 8) | d


Z16 = bytes(16)
V6_SAOPAULO = bytes.fromhex("20010db8000100000000000000000000")
WORLD = snapshot(
    [node("frankfurt"), node("frankfurt", dlat=-2, dlon=-6), node("frankfurt", v6=True),
     node("virginia"), node("singapore", room=True, templates=("static", "video", "api")),
     node("saopaulo", v6=True, room=True, templates=("static", "api"))],
    [inst("static", 0, True, 1), inst("static", 0, True, 3), inst("static", 1, True),
     inst("static", 2, True), inst("static", 3, False), inst("video", 0, True),
     inst("api", 5, False, 2), inst("retired", 3, True)])

SEEDS = {
    "geo-ecs-cookie": WORLD + b"\x01" + b"".join([
        query("192.0.2.7", edns={"ecs": (False, Z16, v4(198, 51, 100, 0), 24), "cookie": "new"}),
        query("192.0.2.7", edns={"cookie": "reuse"}, advance=10),
        query("198.51.100.7", "www", "AAAA", edns={"ecs": (True, V6_SAOPAULO, 0, 48)}),
        query("203.0.113.200", "video", "ANY", edns={"size": 4096}),
        query("2001:db8:1::5", "api", "AAAA", edns={"ecs": (True, V6_SAOPAULO, 0, 56)}),
    ]),
    "rrl-burst": WORLD + b"\x02" + b"".join([
        query("127.0.0.1", burst=12),
        query("127.0.0.1", edns={"cookie": "new"}, burst=4),
        query("127.0.0.1", edns={"cookie": "reuse"}, burst=8),
        query("127.0.1.9", "STATIC", burst=6, advance=200),
    ]),
    "rrl-slip-table": WORLD + b"\x03" + b"".join([
        query("198.51.100.7", "www", burst=16),
        query("198.51.100.7", "www", edns={"cookie": ("junk", 16)}, burst=6),
        query("2001:db8:1::5", "www", "AAAA", burst=10, advance=255, slow_clock=True),
    ]),
    "origin-only": snapshot([], []) + b"\x01" + b"".join([
        query("127.0.0.1", t, "A") + query("::1", t, "AAAA")
        for t in ("static", "video", "nosuch", "apex")
    ]),
    "cold-path": snapshot([node("singapore", room=True, templates=("static", "video"))], []) +
    b"\x00" + b"".join([
        query("203.0.113.200"), query("203.0.113.200", "video", "AAAA"),
        query("2001:db8:1::5", "static", "A", edns={"ecs": (False, Z16, v4(203, 0, 113, 0), 25)}),
    ]),
    "zone-rules": WORLD + b"\x00" + b"".join([
        query("127.0.0.1", n, t, tcp=(i % 2 == 1), edns={"do": True} if i % 3 == 0 else None)
        for i, (n, t) in enumerate([("apex", "SOA"), ("apex", "NS"), ("apex", "ANY"),
                                    ("ns1", "A"), ("ns1", "AAAA"), ("deep", "A"),
                                    ("nsother", "A"), ("examplecom", "A"), ("apex", "AXFR"),
                                    ("static", "TXT"), ("static", "OPT"), ("root", "NS")])
    ][:8]),
    "geoip-sources": WORLD + b"\x01" + b"".join([
        query(s, "static", "A" if ":" not in s else "AAAA", edns={"ecs": (False, Z16, 0, 0)})
        for s in ("100.64.0.1", "81.2.69.160", "175.16.199.1", "89.160.20.112",
                  "2001:db8:ffff::1")
    ]),
    "junk-options": WORLD + b"\x04" + b"".join([
        query("127.0.0.1", edns={"ecs": ("raw", bytes([0, 1, 33, 0, 1, 2, 3, 4, 5]))}),
        query("127.0.0.1", edns={"ecs": ("raw", bytes([0, 2, 56, 0]) + bytes(7))}),
        query("127.0.0.1", edns={"cookie": ("raw", bytes(12))}),
        query("127.0.0.1", edns={"cookie": ("raw", bytes(41))}),
        query("192.0.2.7", edns={"size": 100, "ecs": (False, Z16, 0xFFFFFFFF, 32)}),
        query("192.0.2.7", "static", "A", tcp=True, edns={"size": 65535}),
    ]),
    "raw-queries": WORLD + b"\x01" + b"".join([
        raw("127.0.0.1", bytes.fromhex("12340100000100000000000006737461746963046564676507"
                                       "6578616d706c650000010001")),
        raw("127.0.0.1", bytes.fromhex("abcd0100000100000000000106737461746963046564676507"
                                       "6578616d706c650000010001""0000291000000000000b000800"
                                       "0700011800c63364")),
        raw("::1", bytes.fromhex("ffff8000000100000000000000"), tcp=True),
        raw("127.0.0.1", b""),
    ]),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {OUT}")
