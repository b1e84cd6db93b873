#!/usr/bin/env python3
"""A real bidirectional msgpack-rpc peer against bulkheadd: pynvim's session.

pynvim (like Neovim) serves requests as well as sending them, and takes every
response it receives as the answer to one of its own pending requests: a response it
did not ask for fails a request with the wrong answer or breaks the session
(KeyError on an unknown msgid). So: send, on pynvim's own stream, each message the
daemon used to answer although it is no request, numbered, where it has a msgid,
with the msgid of pynvim's *next* request; then make that request. It must get its
own answer. Then opt in with bulkhead.hello and receive a bulkhead.error
notification through pynvim's notification handler, with a request handler that
must never be called.

usage: pynvim_peer.py SOCKET      exit 0 on success, 1 with the reason on stderr
"""
import sys

from pynvim.msgpack_rpc import socket_session


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def fail(why):
    print("pynvim_peer: " + why, file=sys.stderr)
    sys.exit(1)


def main(path):
    s = socket_session(path)
    # Messages pynvim itself would never send go out on its own stream.
    stream = s._async_session._msgpack_stream

    def next_id():
        return s._async_session._next_request_id

    unanswerable = [
        ("a notification whose method is a msgid", lambda: [2, next_id(), "x"]),
        ("a response from the client", lambda: [1, next_id(), None, None]),
        ("an error response from the client", lambda: [1, next_id(), {"code": 1}, None]),
        ("a string", lambda: "hello"),
        ("a request of two elements", lambda: [0, next_id()]),
        ("a message of type 7", lambda: [7, next_id(), "echo.ping", []]),
        ("a request with msgid -1", lambda: [0, -1, "echo.ping", []]),
        ("a notification to no plugin", lambda: [2, "nosuch.x", []]),
        ("a notification the plugin fails", lambda: [2, "echo.fail", [1000, "no"]]),
    ]
    for what, make in unanswerable:
        stream.send(make())
        try:
            got = s.request("echo.ping")
        except Exception as e:  # a stray response failed our request, or broke the session
            fail("after %s: echo.ping raised %r" % (what, e))
        if text(got) != "pong":
            fail("after %s: echo.ping answered %r" % (what, got))
    if s._pending_messages:
        fail("unsolicited messages: %r" % list(s._pending_messages))

    hello = s.request("bulkhead.hello", {"notifications": ["bulkhead.error"]})
    hello = {text(k): v for k, v in hello.items()}
    enabled = [text(n) for n in
               {text(k): v for k, v in hello["enabled"].items()}["notifications"]]
    if enabled != ["bulkhead.error"]:
        fail("hello enabled %r" % enabled)

    seen = {"requests": [], "notes": [], "pong": None}

    def on_request(name, args):
        seen["requests"].append(text(name))
        return None

    def on_notification(name, args):
        seen["notes"].append((text(name), args))

    def setup():
        stream.send([1, next_id(), None, None])
        seen["pong"] = s.request("echo.ping")
        s.stop()

    s.run(on_request, on_notification, setup)
    if text(seen["pong"]) != "pong":
        fail("after opting in: echo.ping answered %r" % seen["pong"])
    if seen["requests"]:
        fail("the daemon sent requests: %r" % seen["requests"])
    if len(seen["notes"]) != 1 or seen["notes"][0][0] != "bulkhead.error":
        fail("want one bulkhead.error notification, got %r" % seen["notes"])
    err = {text(k): text(v) for k, v in seen["notes"][0][1][0].items()}
    if err.get("name") != "protocol":
        fail("the error notification: %r" % err)
    s.close()


if __name__ == "__main__":
    main(sys.argv[1])
