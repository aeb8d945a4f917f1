#!/usr/bin/env python3
"""Parses JSON messages strictly against the Mesos v1 protos Debian ships.

Usage: mesos_json_check.py DESCRIPTOR_SET INPUT
  DESCRIPTOR_SET  protoc --include_imports --descriptor_set_out of scheduler/scheduler.proto
                  (golang-github-mesos-mesos-go-dev, /usr/share/gocode/src/github.com/mesos/...)
  INPUT           a JSON array of {"type": "<full message name>", "name": "<label>", "json": {...}}

Every message must parse with google.protobuf.json_format.Parse(ignore_unknown_fields=False)
(an unknown or misspelt field, a wrong type or enum value fails) and have every proto2
`required` field set (the master refuses a call missing one). Prints one line per message;
exits 1 if any failed. Used by tests/Concord.Scheduler.Tests/Mesos/MesosWireFormatTests.cs.
"""
import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory


def main() -> int:
    descriptor_path, input_path = sys.argv[1], sys.argv[2]
    files = descriptor_pb2.FileDescriptorSet()
    with open(descriptor_path, "rb") as f:
        files.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    with open(input_path, encoding="utf-8") as f:
        items = json.load(f)
    failed = 0
    for item in items:
        name = item["name"]
        try:
            descriptor = pool.FindMessageTypeByName(item["type"])
            message = message_factory.MessageFactory(pool).GetPrototype(descriptor)()
            json_format.Parse(json.dumps(item["json"]), message, ignore_unknown_fields=False)
            missing = message.FindInitializationErrors()
            if missing:
                raise ValueError("required fields not set: " + ", ".join(missing))
            print(f"ok {name}")
        except Exception as e:  # every failure is reported, with the message's label
            failed += 1
            print(f"FAIL {name} ({item['type']}): {type(e).__name__}: {e}")
    print(f"{len(items) - failed} of {len(items)} valid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
