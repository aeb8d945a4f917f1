"""Operators used by the tests; run as a script: `operators.py MODE` serves the chosen one."""

import sys
import os

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import concord  # noqa: E402


class Misbehaving(concord.Computation):
    """Counts like the word-count counter, but misbehaves on the word "boom" as MODE says."""

    def __init__(self, mode):
        self.mode = mode

    def metadata(self):
        return concord.Metadata(name="counter", istreams=[("words", concord.StreamGrouping.GROUP_BY)],
                                ostreams=["counts"])

    def process_record(self, ctx, record):
        if record.key == b"boom":
            if self.mode == "raise":
                raise KeyError("boom is not a word")
            if self.mode == "undeclared":
                ctx.produce_record("nowhere", record.key, b"1")
            if self.mode == "too-large":
                ctx.produce_record("counts", record.key, b"x" * 2048)
        ctx.produce_record("counts", record.key, b"1")


if __name__ == "__main__":
    concord.serve_computation(Misbehaving(sys.argv[1]))
