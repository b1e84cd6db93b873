#!/usr/bin/env python3
"""A plugin's error as ordinary msgpack-rpc clients see it: text.

Unless a connection asks for maps (bulkhead.hello {"errors": "map"}), the daemon
answers an error as Neovim's [type, message]: type 1 when the request was at fault,
else 0, message "NAME (CODE): MESSAGE".

usage: client_errors.py SOCKET msgpack   a plain session over python3-msgpack: the
                                          exact [type, message], then the map once
                                          asked for
       client_errors.py SOCKET pynvim    pynvim's socket session, with the error
                                          wrapper pynvim's Nvim installs: a normal
                                          exception carrying the text
exit 0 on success, 1 with the reason on stderr
"""
import socket
import sys

FAIL_ARGS = [1001, "the plugin said no"]
FAIL_TEXT = "application (1001): the plugin said no"


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def fail(why):
    print("client_errors: " + why, file=sys.stderr)
    sys.exit(1)


def plain(path):
    import msgpack
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    unpacker = msgpack.Unpacker(raw=False)

    def call(msgid, method, params):
        s.sendall(msgpack.packb([0, msgid, method, params]))
        while True:
            for m in unpacker:
                if m[0] != 1 or m[1] != msgid:
                    fail("unexpected message %r" % (m,))
                return m[2], m[3]
            data = s.recv(65536)
            if not data:
                fail("the daemon closed the connection")
            unpacker.feed(data)

    err, _ = call(1, "echo.fail", FAIL_ARGS)
    if err != [0, FAIL_TEXT]:
        fail("echo.fail: error %r, want %r" % (err, [0, FAIL_TEXT]))
    err, _ = call(2, "nosuch.x", [])
    if not (isinstance(err, list) and len(err) == 2 and err[0] == 1 and
            err[1].startswith("unknown_plugin (1): ")):
        fail("nosuch.x: error %r, want [1, \"unknown_plugin (1): ...\"]" % (err,))
    err, hello = call(3, "bulkhead.hello", [{"errors": "map"}])
    if err is not None or hello["enabled"]["errors"] != "map":
        fail("hello errors map: %r %r" % (err, hello))
    err, _ = call(4, "echo.fail", FAIL_ARGS)
    want = {"code": 1001, "name": "application", "message": "the plugin said no"}
    if err != want:
        fail("after hello: error %r, want %r" % (err, want))
    s.close()


def pynvim(path):
    from pynvim import NvimError, socket_session
    from pynvim.api.common import decode_if_bytes
    s = socket_session(path)
    # What pynvim's Nvim.from_session installs (a bare session has no error_wrapper).
    s.error_wrapper = lambda e: NvimError(decode_if_bytes(e[1]))
    try:
        got = s.request("echo.fail", *FAIL_ARGS)
        fail("echo.fail answered %r" % (got,))
    except NvimError as e:
        if str(e) != FAIL_TEXT:
            fail("echo.fail raised %r, want the text %r" % (str(e), FAIL_TEXT))
    if text(s.request("echo.ping")) != "pong":
        fail("the session does not work after the error")
    s.close()


if __name__ == "__main__":
    {"msgpack": plain, "pynvim": pynvim}[sys.argv[2]](sys.argv[1])
