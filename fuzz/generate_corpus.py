"""Writes the seed corpora in fuzz/corpus/ from real sources, not from hand-made copies.

Usage: scripts/with-memcached.sh .venv/bin/python fuzz/generate_corpus.py

- meta_parser: the bytes a real memcached (MEMCACHED_SERVERS) sends back for meta and
  classic requests, each stream behind the fuzzer's 2-byte header (limits, fragments);
- classic_parser: the same for the classic text commands, behind the same header;
- codec_decode: the values LangChain stores, from tests/vectors/generate_codec_vectors.py
  (the installed langchain-core is the oracle);
- server_address: server lists as users write them.
"""

import hashlib
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def write(target, data):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    # Content-addressed names, as libFuzzer names its own corpus files.
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def exchange(sock, request, fence=b"mn\r\n", last=b"MN\r\n"):
    # An mn fence after every batch says where its replies end.
    sock.sendall(request + fence)
    reply = b""
    while not reply.endswith(last):
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("memcached closed the connection")
        reply += chunk
    return reply


REQUESTS = [
    b"ms seed:a 5 T0 F7 c O1\r\nhello\r\n",
    b"mg seed:a v f c t k s O2\r\n",
    b"mg seed:a v O3\r\nmg seed:missing v O4\r\n",
    b"mg seed:missing v q O5\r\n",
    b"ms seed:b 12 O6\r\nVA 2\r\nHD\r\n\r\n\r\nmg seed:b v O7\r\n",  # a value that looks like replies
    b"ms seed:a 3 ME O8\r\nabc\r\n",  # NS: add on an existing key
    b"ms seed:a 3 C999999 O9\r\nabc\r\n",  # EX: CAS mismatch
    b"md seed:missing O10\r\nmd seed:b O11\r\n",
    b"mg seed:vivify v N30 O12\r\nmg seed:vivify v N30 O13\r\n",  # W, then Z
    b"md seed:a I O14\r\nmg seed:a v c O15\r\n",  # X: stale after invalidation
    b"ma seed:counter N0 J5 v O16\r\n",
    b"mg " + b"k" * 251 + b" v O17\r\n",  # CLIENT_ERROR bad command line format
    b"bogus command\r\n",  # ERROR
    b"version\r\n",
    b"stats\r\n",
    b"flush_all 0\r\n",
    b"ms seed:dump%20x 2 O18\r\nhi\r\nms seed:dump/\xc3\xa9 2 O18\r\nhi\r\n",
    b"ms seed:bin 4 O19\r\n\x00\r\n\xff\r\nmg seed:bin v f O20\r\n",
]


def meta_parser_corpus():
    host, port = os.environ["MEMCACHED_SERVERS"].split(",")[0].rsplit(":", 1)
    streams = []
    with socket.create_connection((host, int(port))) as sock:
        for request in REQUESTS:
            streams.append(exchange(sock, request))
        # memcached does not pipeline anything behind a metadump, so it has no fence.
        streams.append(exchange(sock, b"", b"lru_crawler metadump all\r\n", b"END\r\n"))
        # A value over the item size limit: SERVER_ERROR object too large for cache.
        big = b"x" * (2 << 20)
        streams.append(exchange(sock, b"ms seed:big %d O21\r\n" % len(big) + big + b"\r\n"))
    # Headers: byte 0 picks the limits (0xff: 144-byte lines, 2 KiB values), byte 1 the
    # number of fragment sizes; each stream is seeded whole-ish and in odd fragments.
    headers = [b"\xff\x00", b"\xff\x02\x02\x10", b"\x7f\x01\xff", b"\x30\x03\x00\x06\x40"]
    for i, stream in enumerate(streams):
        write("meta_parser", headers[i % len(headers)] + stream)
    # Everything in one stream, as a pipelining connection receives it.
    write("meta_parser", b"\xff\x03\x07\x40\xc8" + b"".join(streams[:-1]))


CLASSIC_REQUESTS = [
    b"set seed:c 7 0 5\r\nhello\r\nget seed:c\r\n",
    b"set seed:d 0 0 11\r\nEND\r\nSTORED\r\ngets seed:c seed:d seed:missing\r\n",
    b"add seed:c 0 0 1\r\nx\r\n",  # NOT_STORED
    b"delete seed:d\r\ndelete seed:d\r\n",  # DELETED, NOT_FOUND
    b"touch seed:c 60\r\ntouch seed:missing 60\r\n",  # TOUCHED, NOT_FOUND
    b"get seed:missing\r\n",  # END alone
    b"set seed:bin 0 0 4\r\n\x00\r\n\xff\r\nget seed:bin\r\n",
    b"bogus command\r\n",  # ERROR
    b"set seed:e 0 0 2\r\nabcd\r\n",  # CLIENT_ERROR bad data chunk
    b"version\r\nstats settings\r\nflush_all 0\r\n",
]


def classic_parser_corpus():
    host, port = os.environ["MEMCACHED_SERVERS"].split(",")[0].rsplit(":", 1)
    streams = []
    # The fence is a classic `version`, the only reply whose start is known in advance.
    with socket.create_connection((host, int(port))) as sock:
        for request in CLASSIC_REQUESTS:
            reply = exchange(sock, request, b"version\r\n", b"\r\n")
            while b"VERSION " not in reply.rsplit(b"\r\n", 2)[-2]:
                reply += exchange(sock, b"", b"", b"\r\n")
            streams.append(reply)
    headers = [b"\xff\x00", b"\xff\x02\x02\x10", b"\x7f\x01\xff", b"\x30\x03\x00\x06\x40"]
    for i, stream in enumerate(streams):
        write("classic_parser", headers[i % len(headers)] + stream)
    write("classic_parser", b"\xff\x03\x07\x40\xc8" + b"".join(streams))


def codec_corpus():
    with tempfile.TemporaryDirectory() as scratch:
        out = pathlib.Path(scratch) / "vectors.json"
        subprocess.run(
            [sys.executable, str(ROOT / "tests/vectors/generate_codec_vectors.py"), str(out)],
            check=True,
        )
        vectors = json.loads(out.read_text())
    values = [case["expected"] for case in vectors["encode_cases"]]
    values += [case["input"] for case in vectors["decode_cases"]]
    for value in values:
        write("codec_decode", value.encode())
        # The fuzzer also quotes its input into a stored value, so each serialized
        # generation on its own is a seed too.
        for item in json.loads(value):
            if isinstance(item, str):
                write("codec_decode", item.encode())


SERVER_LISTS = [
    "127.0.0.1:11211",
    "localhost",
    "localhost:11211,127.0.0.1:11212",
    "cache-1.example.com:11211 cache-2.example.com:11211\tcache-3:11300",
    "[::1]:11211",
    "[::1]",
    "[fe80::1%eth0]:11212, [2001:db8::7]:11211",
    "10.0.0.1:11211,\n10.0.0.2",
]


def server_address_corpus():
    for servers in SERVER_LISTS:
        write("server_address", servers.encode())


if __name__ == "__main__":
    meta_parser_corpus()
    classic_parser_corpus()
    codec_corpus()
    server_address_corpus()
