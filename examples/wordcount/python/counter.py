"""Word-count counter in Python: reads `words` grouped by key and emits, for every word, its
updated count on `counts` (key = the word, value = the count as UTF-8 decimal).

Same behaviour as the C# counter in examples/wordcount. Run it through run-counter.sh, which
puts sdk/python on PYTHONPATH; the executor sets CONCORD_OPERATOR_ADDRESS.
"""

import os

import concord


class Counter(concord.Computation):
    def __init__(self):
        self.counts = {}

    def metadata(self):
        return concord.Metadata(
            # The executor passes the deploy file's name; "counter" when run by hand.
            name=os.environ.get("CONCORD_OPERATOR_NAME", "counter"),
            istreams=[("words", concord.StreamGrouping.GROUP_BY)],
            ostreams=["counts"])

    def process_record(self, ctx, record):
        word = record.key
        count = self.counts.get(word, 0) + 1
        self.counts[word] = count
        ctx.produce_record("counts", word, b"%d" % count)


if __name__ == "__main__":
    concord.serve_computation(Counter())
