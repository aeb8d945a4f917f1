# frozen_string_literal: true

# Keyed state and keyed timers in-process (no gRPC): the overlay of the SDK's own mutations over
# states shipped as of an earlier batch, coalescing, clear, declared names, the value bound,
# timers carrying and scoping state keys, and the event-time domain.

require_relative "harness"

class StateTest < Minitest::Test
  include Harness

  # The conformance `state` case: counts per key in state "count"; "clear" clears it.
  class Counter < Concord::Computation
    def metadata = Concord::Metadata.new(name: "counter", istreams: ["in"], ostreams: ["out"], states: ["count"])

    def process_record(ctx, record)
      count = ctx.state("count")
      if record.value == "clear"
        count.clear
        ctx.produce_record("out", record.key, "cleared")
        return
      end
      n = (count.get || "0").to_i + 1
      count.set(n.to_s)
      ctx.produce_record("out", record.key, n.to_s)
    end
  end

  # The conformance `keyed_timers` case: counts silently, a timer per key reports and clears.
  class Flusher < Counter
    attr_reader :fired_state_keys

    def initialize
      super
      @fired_state_keys = []
    end

    def process_record(ctx, record)
      count = ctx.state("count")
      count.value = ((count.value || "0").to_i + 1).to_s
      ctx.set_timer("flush", 1000 + record.key.bytesize)
    end

    def process_timer(ctx, _key, time_ms)
      @fired_state_keys << ctx.state_key
      count = ctx.state("count")
      ctx.produce_record("out", ctx.state_key, count.get || "none")
      count.clear
      ctx.set_timer("again", time_ms + 1)
    end
  end

  # keys: Strings (value "v") or [key, value]; states: {key => {name => value}};
  # timers: [[key, time_ms, state_key]].
  def batch(seq, keys, as_of: 0, states: {}, timers: [], watermark_ms: 0)
    V::ExecutorMessage.new(process_batch: V::ProcessBatch.new(
      seq: seq,
      records: keys.map { |k| k.is_a?(Array) ? T::Record.new(key: k[0].b, value: k[1].b) : T::Record.new(key: k.b, value: "v") },
      states: states.map { |key, values| V::KeyState.new(key: key.b, values: values.map { |n, v| V::StateValue.new(name: n, value: v.b) }) },
      state_as_of_seq: as_of, watermark_unix_ms: watermark_ms,
      timers_fired: timers.map { |k, t, sk| V::TimerFired.new(key: k, time_unix_ms: t, state_key: sk.b, domain: :TIME_DOMAIN_PROCESSING) }
    ))
  end

  def dones(out) = out.select { |m| m.message == :batch_done }.map(&:batch_done)
  def outputs(done) = done.produced.map { |p| [p.record.key, p.record.value] }
  def mutations(done) = done.state_mutations.map { |m| [m.key, m.name, m.clear ? nil : m.value] }

  def test_metadata_declares_states_and_a_String_is_refused_with_the_fix
    proto = Counter.new.metadata.to_proto
    assert_equal [["count", :STATE_KIND_VALUE]], proto.states.map { |s| [s.name, s.kind] }
    assert_empty Concord::Metadata.new(name: "x", istreams: ["in"]).to_proto.states
    e = assert_raises(ArgumentError) { Concord::Metadata.new(name: "x", states: "count") }
    assert_includes e.message, "states: [\"count\"], not a String"
  end

  def test_a_pipelined_batch_shipped_with_older_state_sees_the_sdks_own_later_writes
    out, code, = run_session(Counter.new, [
                               init_message,
                               batch(1, %w[a b]),
                               # Batches 2 and 3 were cut before batch 1's mutations were applied.
                               batch(2, ["a"]),
                               batch(3, %w[a b]),
                               # Batch 4: the executor applied batches 1 and 2 (a=2, b=1); batch 3's writes overlay.
                               batch(4, %w[a b], as_of: 2, states: { "a" => { "count" => "2" }, "b" => { "count" => "1" } }),
                               # Batch 5: as of 4, the shipped value wins over every older overlay.
                               batch(5, ["a"], as_of: 4, states: { "a" => { "count" => "100" } }),
                               shutdown_message
                             ])
    assert_equal 0, code
    answers = dones(out)[1..]
    assert_equal [[%w[a 1], %w[b 1]], [%w[a 2]], [%w[a 3], %w[b 2]], [%w[a 4], %w[b 3]], [%w[a 101]]],
                 answers.map { |d| outputs(d) }
    assert_equal [%w[a count 101]], mutations(answers[4])
  end

  def test_mutations_are_coalesced_to_the_last_change_per_key_and_name
    out, code, = run_session(Counter.new, [init_message, batch(1, ["a", "b", "a", "a", %w[b clear], ["", "v"]]), shutdown_message])
    assert_equal 0, code
    done = dones(out)[1]
    assert_equal [%w[a count 3], ["b", "count", nil], ["", "count", "1"]], mutations(done)
    assert done.state_mutations[1].clear
  end

  def test_clear_hides_a_shipped_value_in_the_batch_and_in_later_pipelined_batches
    shipped = { "a" => { "count" => "5" } }
    out, code, = run_session(Counter.new, [init_message, batch(1, ["a", %w[a clear], "a"], states: shipped),
                                           batch(2, [%w[a clear]], states: shipped), batch(3, ["a"], states: shipped),
                                           shutdown_message])
    assert_equal 0, code
    answers = dones(out)[1..]
    assert_equal [[%w[a 6], %w[a cleared], %w[a 1]], [%w[a cleared]], [%w[a 1]]], answers.map { |d| outputs(d) }
    assert_equal [["a", "count", nil]], mutations(answers[1])
  end

  def test_an_undeclared_name_is_fatal_naming_the_declared_ones
    typo = Class.new(Counter) { def process_record(ctx, _r) = ctx.state("cuont").get }
    out, code, = run_session(typo.new, [init_message, batch(1, ["a"])])
    assert_equal 1, code
    assert_includes out.last.error.message,
                    "Concord::StateError in batch 1: state \"cuont\" is not declared in the metadata's states [\"count\"]"
  end

  def test_a_value_over_max_state_value_bytes_is_fatal_naming_the_limit
    big = Class.new(Counter) { def process_record(ctx, r) = ctx.state("count").set("\0" * r.key.bytesize) }
    out, code, = run_session(big.new, [init_message(max_state_value_bytes: 8), batch(1, ["12345678"]), batch(2, ["123456789"])])
    assert_equal 1, code
    assert_equal [["12345678", "count", "\0" * 8]], mutations(dones(out)[1])
    assert_includes out.last.error.message, "value of 9 bytes exceeds the limit of 8 bytes (Init.max_state_value_bytes)"
    non_string = Class.new(Counter) { def process_record(ctx, _r) = ctx.state("count").set(5) }
    out, = run_session(non_string.new, [init_message, batch(1, ["a"])])
    assert_includes out.last.error.message, "set takes a String, got Integer"
  end

  def test_timers_carry_the_state_key_and_process_timer_sees_that_keys_state
    comp = Flusher.new
    out, code, = run_session(comp, [
                               init_message,
                               batch(1, %w[a bb a]),
                               # As of 0 (batch 1 not applied): each timer sees batch 1's overlay.
                               batch(2, [], timers: [["flush", 1001, "a"], ["flush", 1002, "bb"]]),
                               batch(3, [], as_of: 1, states: { "c" => { "count" => "7" } }, timers: [["flush", 9, "c"], ["again", 1002, "a"]]),
                               shutdown_message
                             ])
    assert_equal 0, code
    first, second, third = dones(out)[1..]
    assert_equal [["a", "flush", 1001, :TIME_DOMAIN_PROCESSING], ["bb", "flush", 1002, :TIME_DOMAIN_PROCESSING]],
                 first.timers_set.map { |t| [t.state_key, t.key, t.time_unix_ms, t.domain] }
    assert_equal [%w[a 2], %w[bb 1]], outputs(second)
    assert_equal [["a", "count", nil], ["bb", "count", nil]], mutations(second)
    assert_equal [%w[a again], %w[bb again]], second.timers_set.map { |t| [t.state_key, t.key] }
    # Batch 3 (as of 1): "c" is shipped; "a" was cleared by batch 2 (still an overlay).
    assert_equal [%w[c 7], %w[a none]], outputs(third)
    assert_equal %w[a bb c a], comp.fired_state_keys
  end

  def test_an_operator_without_states_keeps_one_timer_per_key
    keys = []
    op = Concord.computation("counter") do
      input "in"
      output "out"
      process_record do |ctx, r|
        keys << ctx.state_key
        ctx.set_timer("flush", 1000 + r.key.bytesize)
      end
    end
    out, code, = run_session(op, [init_message, batch(1, %w[a bb]), shutdown_message])
    assert_equal 0, code
    assert_equal %w[a bb], keys
    assert_equal [["", "flush", 1002]], dones(out)[1].timers_set.map { |t| [t.state_key, t.key, t.time_unix_ms] }
  end

  def test_timers_set_in_init_have_the_empty_state_key_and_state_is_refused_there
    init_timer = Class.new(Counter) do
      attr_reader :init_key

      def init(ctx)
        @init_key = ctx.state_key
        ctx.set_timer("t", 5)
      end
    end
    comp = init_timer.new
    out, code, = run_session(comp, [init_message, shutdown_message])
    assert_equal 0, code
    assert_equal "", comp.init_key
    assert_equal [["", "t"]], dones(out)[0].timers_set.map { |t| [t.state_key, t.key] }
    init_state = Class.new(Counter) { def init(ctx) = ctx.state("count").get }
    out, code, = run_session(init_state.new, [init_message])
    assert_equal 1, code
    assert_includes out.last.error.message, "state \"count\" used in init"
  end

  def test_event_time_timers_and_the_watermark
    windows = Class.new(Counter) do
      attr_reader :watermark

      def process_record(ctx, _r)
        @watermark = ctx.watermark_unix_ms
        ctx.set_timer("window", 60_000, domain: :event)
        ctx.set_timer("window", 70_000) # processing time: another timer
      end
    end
    comp = windows.new
    out, code, = run_session(comp, [init_message, batch(1, ["a"], watermark_ms: 12_345), shutdown_message])
    assert_equal 0, code
    assert_equal 12_345, comp.watermark
    assert_equal [["window", 60_000, :TIME_DOMAIN_EVENT], ["window", 70_000, :TIME_DOMAIN_PROCESSING]],
                 dones(out)[1].timers_set.map { |t| [t.key, t.time_unix_ms, t.domain] }
    out, code, = run_session(windows.new, [init_message(capabilities: %w[batch-pipelining.v1 timers.v1 keyed-state.v1]), batch(1, ["a"])])
    assert_equal 1, code
    assert_includes out.last.error.message, "event-time timers need an executor with the capability event-time.v1"
  end

  def test_an_executor_without_keyed_state_is_refused_when_states_are_declared
    out, code, = run_session(Counter.new, [init_message(capabilities: %w[batch-pipelining.v1 timers.v1])])
    assert_equal 1, code
    assert_equal :error, out[0].message
    assert_includes out[0].error.message, "declares states [\"count\"] but the executor lacks the capability keyed-state.v1"
  end

  def test_state_older_than_max_batches_in_flight_allows_is_a_protocol_error
    out, code, = run_session(Counter.new, [init_message(max_batches_in_flight: 2), batch(1, ["a"]), batch(2, ["a"]),
                                           batch(3, ["a"]), batch(4, ["a"])])
    assert_equal 1, code
    assert_equal [[%w[a 1]], [%w[a 2]], [%w[a 3]]], dones(out)[1..].map { |d| outputs(d) }
    assert_includes out.last.error.message, "3 earlier batches' state mutations are not applied, more than max_batches_in_flight 2"
  end

  def test_the_hand_written_BatchDone_parses_as_protobuf_with_long_keys_and_values
    timers = { ["\0".b * 200, "flush", 1] => 2**40, ["".b, "é", 2] => 1, ["".b, "neg", 1] => -5 }
    muts = { [(0..255).to_a.pack("C*") * 2, "count"] => "\0".b * 20_000, ["".b, "count"] => nil, ["k".b, "x"] => "".b }
    prefix = Concord::Wire.stream_prefix("out")
    part = Concord::Wire.produced(prefix, "k".b, "v".b * 20_000, Concord::Wire.suffix_fields(-1, "".b, 3))
    got = V::OperatorMessage.decode(Concord::Wire.batch_done(2**33, [part], timers, muts)).batch_done
    want = V::BatchDone.new(
      seq: 2**33,
      produced: [V::ProducedRecord.new(stream: "out", record: T::Record.new(key: "k", value: "v" * 20_000, event_time_unix_ms: -1,
                                                                            ingest_time_unix_us: 3))],
      timers_set: timers.map { |(sk, k, d), t| V::TimerSet.new(key: k, time_unix_ms: t, state_key: sk, domain: d) },
      state_mutations: muts.map { |(k, n), v| V::StateMutation.new(key: k, name: n, value: v || "", clear: v.nil?) }
    )
    assert_equal want, got
  end
end
