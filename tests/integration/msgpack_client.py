#!/usr/bin/python3
"""A plain msgpack-rpc session over the daemon's socket that serves requests too.

usage: msgpack_client.py SOCKET [HANDLER...] [ACTION...] [--timeout S]

Like pynvim's session (and Neovim's), it answers the requests the daemon sends it
([0, cid, method, params] -> [1, cid, error, result]) while it waits for its own
answers, and takes notifications ([2, method, params]) as they come; nothing but
the standard library and Debian's python3-msgpack. For the integration tests of
"Calling out" (README): callbacks to a client, a provider of a namespace.

Handlers (for the whole session; a request for any other method is answered
{"code": 2, "name": "unknown_method", ...}):
  --serve METHOD=JSON          answer with the result JSON
  --echo METHOD                answer with the request's params (the array)
  --fail METHOD=CODE:MESSAGE   answer with the error {"code", "name", "message"}
  --raw METHOD=HEX             send these bytes instead of an answer (a hostile peer)
  --hang METHOD                never answer (the session goes on)
  --vanish METHOD              close the connection at once, unanswered; exit 0

Actions, run in the order given:
  --hello-callbacks            bulkhead.hello [{"callbacks": true}]; exit 1 unless
                               the answer's "enabled" says callbacks are on
  --provide NS                 bulkhead.provide [{"namespace": NS}]; exit 1 on error
  --call METHOD JSONPARAMS     a request (params: a JSON array); its answer printed
  --notify METHOD JSONPARAMS   a notification
  --serve-until N              serve until N requests were received in all
  --timeout S                  (anywhere) give up after S seconds of silence; 30

Output: one JSON object per line on stdout, flushed, in the order things happen:
  {"hello": ANSWER}                                  after --hello-callbacks
  {"provided": NS}                                   after --provide
  {"request": METHOD, "id": CID, "params": P}        each request received
  {"notification": METHOD, "params": P}              each notification received
  {"call": METHOD, "result": R} / {"call": METHOD, "error": E}
bin values print as {"$bin": BASE64}, map keys that are not strings as str(key).

Exit status: 0 done (a call answered with an error is still 0: read the lines);
1 a failed hello/provide, or the daemon broke the protocol (a response to no
request of ours, a message that is no msgpack-rpc); 2 usage; 3 silence past the
timeout, or the daemon closed the connection while we waited.
"""
import base64
import json
import socket
import sys

import msgpack


class Exit(Exception):
    def __init__(self, status, why=None):
        super().__init__(why)
        self.status, self.why = status, why


def jsonable(v):
    if isinstance(v, bytes):
        return {"$bin": base64.b64encode(v).decode()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k if isinstance(k, str) else str(k): jsonable(x) for k, x in v.items()}
    return v


def emit(**fields):
    print(json.dumps(jsonable(fields)), flush=True)


class Session:
    def __init__(self, path, handlers, timeout):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.packer = msgpack.Packer(use_bin_type=True)
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.handlers = handlers  # method -> (kind, arg)
        self.next_id = 0
        self.answers = {}  # msgid -> (error, result), ours only
        self.waiting = set()  # msgids sent and not answered
        self.served = 0

    def send(self, message):
        self.sock.sendall(self.packer.pack(message))

    def request(self, method, params):
        """Send a request, serve what comes meanwhile, return (error, result)."""
        msgid = self.next_id
        self.next_id = (self.next_id + 1) & 0xFFFFFFFF
        self.waiting.add(msgid)
        self.send([0, msgid, method, params])
        while msgid not in self.answers:
            self.read_some()
        return self.answers.pop(msgid)

    def read_some(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Exit(3, "no message from the daemon within the timeout")
        if not data:
            raise Exit(3, "the daemon closed the connection")
        self.unpacker.feed(data)
        try:
            for message in self.unpacker:
                self.handle(message)
        except (msgpack.UnpackException, ValueError) as e:
            raise Exit(1, "undecodable bytes from the daemon: %r" % e)

    def handle(self, m):
        if not isinstance(m, list) or not m or m[0] not in (0, 1, 2):
            raise Exit(1, "not a msgpack-rpc message: %r" % (m,))
        if m[0] == 1:
            if len(m) != 4 or not isinstance(m[1], int) or m[1] not in self.waiting:
                raise Exit(1, "a response to no request of ours: %r" % (m,))
            self.waiting.discard(m[1])
            self.answers[m[1]] = (m[2], m[3])
        elif m[0] == 2:
            if len(m) != 3:
                raise Exit(1, "a malformed notification: %r" % (m,))
            emit(notification=m[1], params=m[2])
        else:
            if len(m) not in (4, 5) or not isinstance(m[1], int):
                raise Exit(1, "a malformed request: %r" % (m,))
            self.served += 1
            emit(request=m[2], id=m[1], params=m[3])
            self.answer(m[1], m[2], m[3])

    def answer(self, cid, method, params):
        kind, arg = self.handlers.get(method, ("unknown", None))
        if kind == "serve":
            self.send([1, cid, None, arg])
        elif kind == "echo":
            self.send([1, cid, None, params])
        elif kind == "fail":
            self.send([1, cid, arg, None])
        elif kind == "raw":
            self.sock.sendall(arg)
        elif kind == "vanish":
            self.sock.close()
            raise Exit(0)
        elif kind == "unknown":
            self.send([1, cid, {"code": 2, "name": "unknown_method",
                                "message": "no handler for %s" % method}, None])
        # "hang": no answer


def parse_args(argv):
    """(socket, handlers, actions, timeout) or Exit(2)."""
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        raise Exit(0)
    if not argv:
        raise Exit(2, "usage: msgpack_client.py SOCKET [HANDLER...] [ACTION...] (--help)")
    path, rest = argv[0], argv[1:]
    handlers, actions, timeout = {}, [], 30.0

    def take(n):
        if len(rest) < n:
            raise Exit(2, "%s needs %d argument(s)" % (opt, n))
        args = rest[:n]
        del rest[:n]
        return args

    def method_eq(arg):
        method, sep, value = arg.partition("=")
        if not sep or not method:
            raise Exit(2, "%s wants METHOD=VALUE, got %r" % (opt, arg))
        return method, value

    try:
        while rest:
            opt = rest.pop(0)
            if opt == "--serve":
                method, value = method_eq(take(1)[0])
                handlers[method] = ("serve", json.loads(value))
            elif opt in ("--echo", "--hang", "--vanish"):
                handlers[take(1)[0]] = (opt[2:], None)
            elif opt == "--fail":
                method, value = method_eq(take(1)[0])
                code, _, message = value.partition(":")
                handlers[method] = ("fail", {"code": int(code), "message": message})
            elif opt == "--raw":
                method, value = method_eq(take(1)[0])
                handlers[method] = ("raw", bytes.fromhex(value))
            elif opt == "--hello-callbacks":
                actions.append(("hello",))
            elif opt == "--provide":
                actions.append(("provide", take(1)[0]))
            elif opt in ("--call", "--notify"):
                method, params = take(2)
                params = json.loads(params)
                if not isinstance(params, list):
                    raise Exit(2, "%s %s: the params are a JSON array" % (opt, method))
                actions.append((opt[2:], method, params))
            elif opt == "--serve-until":
                actions.append(("serve-until", int(take(1)[0])))
            elif opt == "--timeout":
                timeout = float(take(1)[0])
            else:
                raise Exit(2, "unknown option %r" % opt)
    except ValueError as e:  # json, int, float, fromhex
        raise Exit(2, "%s: %s" % (opt, e))
    return path, handlers, actions, timeout


def run(s, actions):
    for action in actions:
        if action[0] == "hello":
            error, result = s.request("bulkhead.hello", [{"callbacks": True}])
            emit(hello=result if error is None else {"error": error})
            if error is not None or (result.get("enabled") or {}).get("callbacks") is not True:
                raise Exit(1, "the daemon did not enable callbacks")
        elif action[0] == "provide":
            error, _ = s.request("bulkhead.provide", [{"namespace": action[1]}])
            if error is not None:
                raise Exit(1, "bulkhead.provide %s: %r" % (action[1], error))
            emit(provided=action[1])
        elif action[0] == "call":
            error, result = s.request(action[1], action[2])
            if error is None:
                emit(call=action[1], result=result)
            else:
                emit(call=action[1], error=error)
        elif action[0] == "notify":
            s.send([2, action[1], action[2]])
        elif action[0] == "serve-until":
            while s.served < action[1]:
                s.read_some()


def main(argv):
    try:
        path, handlers, actions, timeout = parse_args(argv)
        s = Session(path, handlers, timeout)
        run(s, actions)
        s.sock.close()
        return 0
    except Exit as e:
        if e.why:
            print("msgpack_client: " + e.why, file=sys.stderr)
        return e.status
    except OSError as e:
        print("msgpack_client: %s" % e, file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
