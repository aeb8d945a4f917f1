'use strict';
// Loads the .proto files at run time with @grpc/proto-loader (no generated code to keep in
// step). They are found in, first, $CONCORD_PROTO_DIR; then proto/ inside this package (a
// packed copy); then the repository's proto/ (sdk/node is inside the Concord repository).
const fs = require('fs');
const path = require('path');
const protoLoader = require('@grpc/proto-loader');

const PROTO_DIR_VARIABLE = 'CONCORD_PROTO_DIR';

function protoDir() {
  const candidates = [
    process.env[PROTO_DIR_VARIABLE],
    path.join(__dirname, '..', 'proto'),
    path.join(__dirname, '..', '..', '..', 'proto'),
  ].filter(Boolean);
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, 'concord', 'operator', 'v1', 'operator.proto'))) return dir;
  }
  throw new Error(`concord: cannot find the Concord .proto files (looked in ${candidates.join(', ')}); ` +
    `set ${PROTO_DIR_VARIABLE} to the directory holding concord/operator/v1/operator.proto`);
}

// camelCase fields, 64-bit integers as Number (times in ms and us, seqs: all far below 2^53),
// bytes as Buffer, defaults filled in (an absent key is an empty Buffer), and the name of the
// set oneof member in a virtual field (`message.message === 'processBatch'`).
const LOAD_OPTIONS = Object.freeze({
  keepCase: false, longs: Number, enums: Number, defaults: true, oneofs: true,
});

const cache = new Map();

/** The package definition of one .proto file ("concord/operator/v1/operator.proto"). */
function load(file) {
  let def = cache.get(file);
  if (!def) {
    const dir = protoDir();
    def = protoLoader.loadSync(path.join(dir, file), { ...LOAD_OPTIONS, includeDirs: [dir] });
    cache.set(file, def);
  }
  return def;
}

module.exports = { load, protoDir, PROTO_DIR_VARIABLE };
