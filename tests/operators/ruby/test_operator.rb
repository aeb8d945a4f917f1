# frozen_string_literal: true

# The Ruby test operator of the conformance suite. Every language has one like it, with the
# same behaviours, selected by CONFORMANCE_CASE (the table is in docs/conformance.md). Run it
# through run-test-operator.sh, which puts sdk/ruby/lib on the load path.

require "concord"

# The documented record limit (ProtocolLimits.RecordBytesMax), key + value.
RECORD_BYTES_MAX = 1024 * 1024
# How long the backpressure case blocks at most before it gives up, in seconds.
GATE_TIMEOUT_S = 60
# How often the backpressure case looks for the release file, in seconds.
GATE_POLL_S = 0.01
# How long after a record the keyed_timers case flushes its key, in ms.
FLUSH_DELAY_MS = 100
# The cases that keep keyed state "count".
STATE_CASES = %w[state keyed_timers event_time_timers].freeze
# How far after a record's event time the event_time_timers case sets its timer, in ms.
EVENT_TIMER_DELAY_MS = 100

def now_ms = Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)

class TestOperator < Concord::Computation
  def initialize(kase, name)
    super()
    @case = kase
    @name = name
    @gate_passed = false
    @rearmed = false
  end

  def metadata
    Concord::Metadata.new(name: @case == "invalid_metadata" ? "not-#{@name}" : @name,
                          istreams: [["in", :group_by]],
                          ostreams: %w[out-a out-b],
                          states: STATE_CASES.include?(@case) ? ["count"] : [])
  end

  def init(ctx)
    return unless @case == "timers"

    now = now_ms
    ctx.set_timer("t3", now + 300)
    ctx.set_timer("t1", now + 100)
    ctx.set_timer("t2", now + 200)
    ctx.set_timer("rearm", now + 150)
  end

  def process_record(ctx, record)
    case @case
    when "produce"
      ctx.produce_record("out-a", record.key, "a:#{record.value}".b)
      ctx.produce_record("out-b", record.key, "b:#{record.value}".b)
      return
    when "group_by"
      ctx.produce_record("out-a", record.key, ctx.instance_index.to_s)
      return
    when "state"
      count = ctx.state("count")
      if record.value == "clear"
        count.clear
        ctx.produce_record("out-a", record.key, "cleared")
        return
      end
      c = Integer(count.get || "0", 10) + 1
      count.set(c.to_s)
      ctx.produce_record("out-a", record.key, c.to_s)
      return
    when "keyed_timers"
      count = ctx.state("count")
      count.set((Integer(count.get || "0", 10) + 1).to_s)
      ctx.set_timer("flush", now_ms + FLUSH_DELAY_MS)
      return
    when "event_time_timers"
      ctx.set_timer("fire", record.event_time_unix_ms + EVENT_TIMER_DELAY_MS, domain: :event)
      return
    when "backpressure"
      wait_for_gate
    when "exception"
      raise "conformance failure on purpose"
    when "size_limit"
      if record.key == "grow"
        ctx.produce_record("out-a", record.key, "\0".b * (RECORD_BYTES_MAX - record.key.bytesize + 1))
        return
      end
    end
    ctx.produce_record("out-a", record.key, record.value)
  end

  def process_timer(ctx, key, time_ms)
    case @case
    when "event_time_timers"
      ctx.produce_record("out-b", ctx.state_key, time_ms.to_s)
      return
    when "keyed_timers"
      count = ctx.state("count")
      ctx.produce_record("out-b", ctx.state_key, count.get || "")
      count.clear
      return
    end
    ctx.produce_record("out-a", key, time_ms.to_s)
    return unless key == "rearm" && !@rearmed

    @rearmed = true
    ctx.set_timer(key, time_ms + 200)
  end

  def destroy
    File.write("destroyed", "destroyed") if @case == "destroy"
  end

  private

  # Blocks the first callback until the harness creates "release" in the working directory.
  def wait_for_gate
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + GATE_TIMEOUT_S
    until @gate_passed || File.exist?("release")
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        raise "the harness did not create 'release' within #{GATE_TIMEOUT_S} s"
      end

      sleep GATE_POLL_S
    end
    @gate_passed = true
  end
end

Concord.serve(TestOperator.new(ENV.fetch("CONFORMANCE_CASE", ""), ENV.fetch("CONCORD_OPERATOR_NAME", "conformance")))
