"""The SDK's copies of the protocol constants agree with proto/concord/limits.json, their one source."""

import json
import os
import re
import unittest

from concord import _limits

_LIMITS_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "proto", "concord", "limits.json")


class LimitsFile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(_LIMITS_FILE, encoding="utf-8") as f:
            cls.limits = json.load(f)

    def test_copies_match_the_limits_file(self):
        expected = {
            "protocolVersion": _limits.PROTOCOL_VERSION,
            "capabilities": list(_limits.CAPABILITIES_SHARED),
            "operatorAddressVariable": _limits.OPERATOR_ADDRESS_VARIABLE,
            "grpcMessageBytesMax": _limits.GRPC_MESSAGE_BYTES_MAX,
            "recordBytesMax": _limits.RECORD_BYTES_MAX_DEFAULT,
            "unixSocketPathBytesMax": _limits.UNIX_SOCKET_PATH_BYTES_MAX,
            "streamNameCharsMax": _limits.STREAM_NAME_CHARS_MAX,
            "streamNamePattern": _limits.STREAM_NAME_PATTERN,
            "unavailableReaderDropAfterMsMax": _limits.UNAVAILABLE_READER_DROP_AFTER_MS_MAX,
        }
        for name, value in expected.items():
            with self.subTest(name=name):
                self.assertEqual(self.limits[name], value,
                                 "concord/_limits.py differs from proto/concord/limits.json; copy the file's value")

    def test_stream_name_pattern_allows_exactly_up_to_the_bound(self):
        pattern = re.compile(_limits.STREAM_NAME_PATTERN)
        self.assertTrue(pattern.match("a" * _limits.STREAM_NAME_CHARS_MAX))
        self.assertFalse(pattern.match("a" * (_limits.STREAM_NAME_CHARS_MAX + 1)))
        self.assertFalse(pattern.match(""))
        self.assertFalse(pattern.match("a b"))


if __name__ == "__main__":
    unittest.main()
