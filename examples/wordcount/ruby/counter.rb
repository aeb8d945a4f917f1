# frozen_string_literal: true

# Word-count counter in Ruby: reads `words` grouped by key and emits, for every word, its
# updated count on `counts` (key = the word, value = the count as UTF-8 decimal).
#
# Same behaviour as the C# counter in examples/wordcount. Run it through run-counter.sh, which
# puts sdk/ruby/lib on the load path; the executor sets CONCORD_OPERATOR_ADDRESS.

require "concord"

counts = Hash.new(0)
counter = Concord.computation(ENV.fetch("CONCORD_OPERATOR_NAME", "counter")) do # "counter" when run by hand
  input "words", :group_by
  output "counts"
  process_record do |ctx, record|
    word = record.key
    ctx.produce_record("counts", word, (counts[word] += 1).to_s)
  end
end

Concord.serve(counter)
