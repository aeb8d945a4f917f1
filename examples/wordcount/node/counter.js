'use strict';
// Word-count counter in Node: reads `words` grouped by key and emits, for every word, its
// updated count on `counts` (key = the word, value = the count as UTF-8 decimal).
//
// Same behaviour as the C# counter in examples/wordcount. Run it through run-counter.sh, which
// finds sdk/node from this directory; the executor sets CONCORD_OPERATOR_ADDRESS.
const path = require('path');
const concord = require(path.join(__dirname, '..', '..', '..', 'sdk', 'node'));

class Counter extends concord.Computation {
  constructor() {
    super();
    // Keyed by the word's bytes as latin1 (one char per byte), so any key round-trips.
    this.counts = new Map();
  }

  metadata() {
    return {
      // The executor passes the deploy file's name; "counter" when run by hand.
      name: process.env.CONCORD_OPERATOR_NAME || 'counter',
      inputs: [['words', concord.StreamGrouping.GROUP_BY]],
      outputs: ['counts'],
    };
  }

  processRecord(ctx, record) {
    const word = record.key.toString('latin1');
    const count = (this.counts.get(word) || 0) + 1;
    this.counts.set(word, count);
    ctx.produceRecord('counts', record.key, String(count));
  }
}

concord.serveComputation(new Counter());
