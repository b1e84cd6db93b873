#!/usr/bin/python3
"""A host service in Python: an application that serves methods to plugins.

    provider.py [SOCKET] [NAMESPACE]

The application registers as the provider of a namespace (default "app") and answers
the calls plugins make to it, e.g. a plugin granted `calls = [ "app.*" ];` that calls
bh_callout("app.lookup", ...) (README "Calling out"). Plain msgpack-rpc, standard library
and msgpack (Debian: python3-msgpack):

    -> [0, 1, "bulkhead.hello", [{"callbacks": true}]]      serve requests from now on
    -> [0, 2, "bulkhead.provide", [{"namespace": "app"}]]  admin rights needed
    <- [0, cid, "app.lookup", [key]]                         a plugin's call
    -> [1, cid, nil, value]                                  its answer

The daemon's requests and its answers to ours share the one socket: a response answers
one of our msgids, a request is for us to answer. Runs until the daemon closes the
connection; the namespace is free again as soon as this process exits.
"""
import os
import socket
import sys

import msgpack

TABLE = {"colour": "teal", "answer": 42}


def serve(method, params):
    """(error, result) for a plugin's call."""
    if method.endswith(".lookup") and len(params) == 1:
        key = params[0]
        if key in TABLE:
            return None, TABLE[key]
        return {"code": 1000, "message": "no key %r" % key}, None
    return {"code": 2, "name": "unknown_method", "message": "no method " + method}, None


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
        "BULKHEAD_SOCKET", "/run/bulkhead/bulkhead.sock")
    ns = sys.argv[2] if len(sys.argv) > 2 else "app"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    unpacker = msgpack.Unpacker(raw=False)

    def send(msg):
        sock.sendall(msgpack.packb(msg, use_bin_type=True))

    send([0, 1, "bulkhead.hello", [{"callbacks": True}]])
    send([0, 2, "bulkhead.provide", [{"namespace": ns}]])
    while True:
        data = sock.recv(65536)
        if not data:
            return 0
        unpacker.feed(data)
        for msg in unpacker:
            if msg[0] == 1 and msg[2] is not None:      # our hello or provide failed
                print("provider: %r" % (msg[2],), file=sys.stderr)
                return 1
            if msg[0] == 1 and msg[1] == 2:
                print("providing %s.* on %s" % (ns, path), flush=True)
            elif msg[0] == 0:                          # a plugin's call: answer it
                _, cid, method, params = msg[:4]
                error, result = serve(method, params)
                send([1, cid, error, result])


if __name__ == "__main__":
    sys.exit(main())
