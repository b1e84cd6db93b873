#!/usr/bin/python3
"""A bulkhead client in Python, with no bulkhead code at all.

    client.py [SOCKET]

The daemon speaks plain MessagePack-RPC over a Unix socket, so any msgpack-rpc client
can call plugins. This one uses only the standard library and msgpack (Debian:
python3-msgpack) to show the whole wire protocol:

    request   [0, msgid, "plugin.method", [args...]]
              [0, msgid, "plugin.method", [args...], {"timeout_ms": N}]   (optional)
    response  [1, msgid, error, result]    error is nil, or by default Neovim's
              [type, "NAME (CODE): MESSAGE"]; after
              bulkhead.hello [{"errors": "map"}] (this client asks for it)
              {"code": int, "name": str, "message": str[, "data": any]}

SOCKET defaults to $BULKHEAD_SOCKET, then /run/bulkhead/bulkhead.sock. It needs a
daemon that runs the example plugin "echo" (examples/plugins/echo.c). Exits 0 when
every answer was the expected one.
"""
import os
import socket
import sys

import msgpack


class RemoteError(Exception):
    """An error answered by the daemon or a plugin: the wire's error map."""

    def __init__(self, err):
        if isinstance(err, dict):
            self.code = err.get("code")
            self.name = err.get("name")
            self.message = err.get("message")
            self.data = err.get("data")
        elif isinstance(err, list) and len(err) == 2:  # [type, "NAME (CODE): MESSAGE"]
            self.code, self.name, self.message, self.data = None, None, err[1], None
        else:  # any other msgpack-rpc server may send any value
            self.code, self.name, self.message, self.data = None, None, repr(err), None
        super().__init__(f"{self.name} ({self.code}): {self.message}")


class Client:
    def __init__(self, path, timeout_s=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout_s)  # a safety net for this example, not a deadline
        self.sock.connect(path)
        # use_bin_type: bytes go out as msgpack bin, str as str.
        self.packer = msgpack.Packer(use_bin_type=True)
        # raw=False: msgpack str comes back as Python str, bin as bytes.
        # strict_map_key=False: results may have maps with non-string keys.
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.next_id = 0
        self.replies = {}  # msgid -> (error, result), for answers read ahead

    def send(self, method, args=(), timeout_ms=None):
        """Send one request without waiting; returns its msgid."""
        msgid = self.next_id
        self.next_id = (self.next_id + 1) & 0xFFFFFFFF
        request = [0, msgid, method, list(args)]
        if timeout_ms is not None:
            request.append({"timeout_ms": timeout_ms})
        self.sock.sendall(self.packer.pack(request))
        return msgid

    def wait(self, msgid):
        """Read messages until the answer to msgid; returns its result or raises."""
        while msgid not in self.replies:
            for message in self.unpacker:
                if message[0] == 1:  # a response; notifications ([2, ...]) are skipped
                    _, mid, error, result = message
                    self.replies[mid] = (error, result)
            if msgid in self.replies:
                break
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the daemon closed the connection")
            self.unpacker.feed(data)
        error, result = self.replies.pop(msgid)
        if error is not None:
            raise RemoteError(error)
        return result

    def call(self, method, *args, timeout_ms=None):
        return self.wait(self.send(method, args, timeout_ms))

    def close(self):
        self.sock.close()


def check(what, got, want):
    print(f"{what}: {got!r}")
    if got != want:
        print(f"  expected {want!r}", file=sys.stderr)
        return False
    return True


def main():
    path = (sys.argv[1] if len(sys.argv) > 1
            else os.environ.get("BULKHEAD_SOCKET") or "/run/bulkhead/bulkhead.sock")
    try:
        client = Client(path)
    except OSError as e:
        print(f"cannot connect to {path}: {e.strerror or e}", file=sys.stderr)
        return 1
    ok = True
    # Errors as maps, with their code apart from the text (by default they are text).
    client.call("bulkhead.hello", {"errors": "map"})

    # A call with arguments of several types; echo.echo returns its first argument.
    value = {"name": "python", "answer": 42, "pi": 3.14159, "ok": True,
             "nothing": None, "blob": b"\x00\x01\xfe", "list": [1, "two", 3.0]}
    ok &= check("echo.echo", client.call("echo.echo", value), value)
    ok &= check("echo.ping", client.call("echo.ping", timeout_ms=2000), "pong")

    # Pipelining: send several requests, then collect the answers by msgid.
    ids = [client.send("echo.echo", [i * i]) for i in range(10)]
    ok &= check("pipelined", [client.wait(i) for i in ids], [i * i for i in range(10)])

    # Errors come back as a map; the connection stays usable.
    for method, args, want_code in (("echo.fail", [1001, "the plugin said no"], 1001),
                                    ("nosuch.method", [], 1)):
        try:
            client.call(method, *args)
            print(f"{method}: unexpectedly succeeded", file=sys.stderr)
            ok = False
        except RemoteError as e:
            print(f"{method}: error {e.name} ({e.code}): {e.message}")
            ok &= e.code == want_code

    client.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
