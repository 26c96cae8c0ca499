// What onevmm uses of ssh2, bundled by scripts/build.mjs into dist/ssh2.cjs (see src/host/ssh2-load.ts):
// the client and the key parser; ssh2's index would also load its server, key generator and HTTP
// agents (and with them node:http, node:https and node:tls).
'use strict';
module.exports = {
  Client: require('ssh2/lib/client.js'),
  parseKey: require('ssh2/lib/protocol/keyParser.js').parseKey,
};
