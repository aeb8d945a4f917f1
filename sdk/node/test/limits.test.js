'use strict';
// The shared protocol constants must equal proto/concord/limits.json, their one source.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const limits = require('../lib/limits');
const { protoDir } = require('../lib/proto');

const shared = JSON.parse(fs.readFileSync(path.join(protoDir(), 'concord', 'limits.json'), 'utf8'));

test('the copies of proto/concord/limits.json agree with it', () => {
  assert.equal(limits.PROTOCOL_VERSION, shared.protocolVersion);
  assert.deepEqual([...limits.CAPABILITIES_SHARED], shared.capabilities);
  assert.equal(limits.OPERATOR_ADDRESS_VARIABLE, shared.operatorAddressVariable);
  assert.equal(limits.RECORD_BYTES_MAX_DEFAULT, shared.recordBytesMax);
  assert.equal(limits.GRPC_MESSAGE_BYTES_MAX, shared.grpcMessageBytesMax);
  assert.equal(limits.BATCH_DONE_BYTES_MAX, shared.batchDoneBytesMax);
  assert.equal(limits.BATCH_DONE_RECORDS_MAX, shared.batchDoneRecordsMax);
  assert.equal(limits.UNIX_SOCKET_PATH_BYTES_MAX, shared.unixSocketPathBytesMax);
  assert.equal(limits.STREAM_NAME_CHARS_MAX, shared.streamNameCharsMax);
  assert.equal(limits.STREAM_NAME_PATTERN, shared.streamNamePattern);
  assert.equal(limits.UNAVAILABLE_READER_DROP_AFTER_MS_MAX, shared.unavailableReaderDropAfterMsMax);
});

test('the stream name pattern allows exactly 1..STREAM_NAME_CHARS_MAX characters', () => {
  const re = new RegExp(limits.STREAM_NAME_PATTERN);
  assert.ok(re.test('a'.repeat(limits.STREAM_NAME_CHARS_MAX)));
  assert.ok(!re.test('a'.repeat(limits.STREAM_NAME_CHARS_MAX + 1)));
  assert.ok(!re.test(''));
});

test('the produced-bytes bound keeps a BatchDone within both executor limits', () => {
  assert.ok(limits.PRODUCED_BYTES_PER_BATCH_MAX < limits.BATCH_DONE_BYTES_MAX);
  assert.ok(limits.PRODUCED_BYTES_PER_BATCH_MAX / limits.PRODUCED_RECORD_OVERHEAD_BYTES <= limits.BATCH_DONE_RECORDS_MAX);
});
