# frozen_string_literal: true

# Operators for test_operator_process.rb, selected by the first argument: "echo" echoes "in"
# to "out"; "raise" raises on key "boom"; "oversized" produces a record over the limit on key
# "boom". Run with sdk/ruby/lib on the load path.

require "concord"

mode = ARGV.fetch(0)
op = Concord.computation("op") do
  input "in", :group_by
  output "out"
  process_record do |ctx, record|
    if record.key == "boom"
      raise ArgumentError, "boom on purpose" if mode == "raise"

      ctx.produce_record("out", record.key, "x" * 2048) if mode == "oversized"
    end
    ctx.produce_record("out", record.key, record.value)
  end
  destroy { File.write("destroyed", "yes") }
end
Concord.serve(op)
