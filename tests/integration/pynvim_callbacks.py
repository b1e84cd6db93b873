#!/usr/bin/env python3
"""An unmodified bidirectional msgpack-rpc client serving a plugin's callbacks:
pynvim's session, with its own request and notification handlers (README "Calling
out"). It opts in with bulkhead.hello {"callbacks": true}, then calls a.caller and
a.notify of the callout example plugin, configured with callback = true; the
plugin's call to its caller arrives through pynvim's request handler, whose answer
becomes the plugin's result, and its notification through the notification handler.

usage: pynvim_callbacks.py SOCKET      exit 0 on success, 1 with the reason on stderr
"""
import sys

from pynvim.msgpack_rpc import socket_session


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def fail(why):
    print("pynvim_callbacks: " + why, file=sys.stderr)
    sys.exit(1)


def main(path):
    s = socket_session(path)
    hello = {text(k): v for k, v in s.request("bulkhead.hello", {"callbacks": True}).items()}
    enabled = {text(k): v for k, v in hello["enabled"].items()}
    if enabled.get("callbacks") is not True:
        fail("hello did not enable callbacks: %r" % hello)

    seen = {"requests": [], "notes": [], "answers": []}

    def on_request(name, args):
        seen["requests"].append((text(name), [text(a) for a in args]))
        return "from pynvim: %s" % text(args[0])

    def on_notification(name, args):
        seen["notes"].append((text(name), [text(a) for a in args]))

    def setup():
        seen["answers"].append(text(s.request("a.caller", "ask", "x")))
        seen["answers"].append(s.request("a.notify", "progress", "half"))
        s.stop()

    s.run(on_request, on_notification, setup)
    if seen["requests"] != [("ask", ["x"])]:
        fail("the request handler saw %r" % seen["requests"])
    if seen["answers"] != ["from pynvim: x", True]:
        fail("the calls answered %r" % seen["answers"])
    if seen["notes"] != [("progress", ["half"])]:
        fail("the notification handler saw %r" % seen["notes"])
    s.close()


if __name__ == "__main__":
    main(sys.argv[1])
