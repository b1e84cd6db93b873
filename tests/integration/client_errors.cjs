// A plugin's error as a node msgpack-rpc client sees it: text, [type, message].
//
// usage: NODE_PATH=DIR/node_modules node client_errors.cjs SOCKET
// (DIR holds npm's @msgpack/msgpack). Calls echo.fail and an unknown plugin on a plain
// connection and checks each error is Neovim's [type, "NAME (CODE): MESSAGE"]; exit 0,
// or 1 with the reason on stderr.
'use strict';
const net = require('node:net');
const { encode, Decoder } = require('@msgpack/msgpack');

function fail(why) {
	process.stderr.write('client_errors.cjs: ' + why + '\n');
	process.exit(1);
}

const sock = net.createConnection(process.argv[2]);
const decoder = new Decoder();
const waiting = new Map();
let buffered = Buffer.alloc(0);

sock.on('data', (chunk) => {
	buffered = Buffer.concat([buffered, chunk]);
	for (;;) {
		let msg;
		try {
			msg = decoder.decode(buffered);
		} catch (e) {
			return; // incomplete: wait for more
		}
		buffered = Buffer.alloc(0);
		const [type, msgid, error] = msg;
		if (type !== 1 || !waiting.has(msgid))
			fail('unexpected message ' + JSON.stringify(msg));
		waiting.get(msgid)(error);
		waiting.delete(msgid);
		return;
	}
});
sock.on('error', (e) => fail(e.message));

function call(msgid, method, params) {
	return new Promise((resolve) => {
		waiting.set(msgid, resolve);
		sock.write(encode([0, msgid, method, params]));
	});
}

(async () => {
	let err = await call(1, 'echo.fail', [1001, 'the plugin said no']);
	if (JSON.stringify(err) !== JSON.stringify([0, 'application (1001): the plugin said no']))
		fail('echo.fail: error ' + JSON.stringify(err));
	err = await call(2, 'nosuch.x', []);
	if (!Array.isArray(err) || err[0] !== 1 || !String(err[1]).startsWith('unknown_plugin (1): '))
		fail('nosuch.x: error ' + JSON.stringify(err));
	sock.end();
})();
