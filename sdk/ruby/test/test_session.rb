# frozen_string_literal: true

# The session protocol without a transport: Init, Metadata, BatchDone order, timers, errors.

require_relative "harness"

class SessionTest < Minitest::Test
  include Harness

  def echo(&extra)
    Concord.computation("op") do
      input "in", :group_by
      output "out"
      output "other"
      process_record { |ctx, r| ctx.produce_record("out", r.key, r.value) }
      instance_eval(&extra) if extra
    end
  end

  def test_metadata_comes_first_then_init_output_with_now_times_in_BatchDone_0
    op = echo do
      init do |ctx|
        ctx.log("starting", level: :warning)
        ctx.produce_record("other", "k", "from init")
        ctx.set_timer("t", 42)
      end
    end
    before_us = Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond)
    out, code, = run_session(op, [init_message, shutdown_message])
    assert_equal 0, code
    assert_equal %i[metadata log batch_done], out.map(&:message)
    md = out[0].metadata
    assert_equal "op", md.metadata.name
    assert_equal [["in", :GROUPING_GROUP_BY]], md.metadata.inputs.map { |i| [i.name, i.grouping] }
    assert_equal %w[out other], md.metadata.outputs.to_a
    assert_equal Concord::Limits::CAPABILITIES, md.capabilities.to_a
    assert_equal [:LEVEL_WARNING, "starting"], [out[1].log.level, out[1].log.message]
    done = out[2].batch_done
    assert_equal 0, done.seq
    rec = done.produced[0].record
    assert_equal ["other", "k", "from init"], [done.produced[0].stream, rec.key, rec.value]
    assert_operator rec.ingest_time_unix_us, :>=, before_us
    assert_equal rec.ingest_time_unix_us / 1000, rec.event_time_unix_ms
    assert_equal [["t", 42, ""]], done.timers_set.map { |t| [t.key, t.time_unix_ms, t.state_key] }
  end

  def test_timers_fire_after_records_and_an_explicit_event_time_keeps_trace_and_ingest
    op = echo do
      process_record { |ctx, r| ctx.produce_record("out", r.key, r.value, event_time_ms: 5) }
      process_timer { |ctx, key, time_ms| ctx.produce_record("other", key, time_ms.to_s) }
    end
    trace = T::TraceContext.new(trace_id: "t" * 16, parent_span_id: "s" * 8)
    timer = V::TimerFired.new(key: "tk", time_unix_ms: 99)
    out, code, = run_session(op, [init_message, batch_message(1, ["a"], timers: [timer], trace: trace, ingest_time_unix_us: 11,
                                                                          event_time_unix_ms: 3), shutdown_message])
    assert_equal 0, code
    produced = out.last.batch_done.produced
    assert_equal [%w[out a v], %w[other tk 99]], produced.map { |p| [p.stream, p.record.key, p.record.value] }
    assert_equal [5, trace, 11], [produced[0].record.event_time_unix_ms, produced[0].record.trace, produced[0].record.ingest_time_unix_us]
    refute_equal 11, produced[1].record.ingest_time_unix_us
  end

  def test_pipelined_batches_are_answered_in_seq_order
    out, code, = run_session(echo, [init_message, batch_message(1, ["a"]), batch_message(2, %w[b c]), batch_message(3, []),
                                    shutdown_message])
    assert_equal 0, code
    dones = out.select { |m| m.message == :batch_done }.map(&:batch_done)
    assert_equal [0, 1, 2, 3], dones.map(&:seq)
    assert_equal [[], ["a"], %w[b c], []], dones.map { |d| d.produced.map { |p| p.record.key } }
  end

  def test_a_first_message_other_than_Init_is_a_fatal_protocol_error
    out, code, = run_session(echo, [batch_message(1, ["a"])])
    assert_equal 1, code
    assert_equal [:error], out.map(&:message)
    assert out[0].error.fatal
    assert_includes out[0].error.message, "the first message of a session must be Init, got process_batch"
  end

  def test_another_protocol_version_is_refused_naming_both
    out, code, = run_session(echo, [init_message(protocol_version: 2)])
    assert_equal 1, code
    assert_includes out[0].error.message, "executor speaks operator protocol version 2, this SDK (concord-ruby/0.1.0) speaks 1"
  end

  def test_a_required_capability_the_sdk_lacks_is_refused
    init = init_message
    init.init.required_capabilities << "teleport.v1"
    out, code, = run_session(echo, [init])
    assert_equal 1, code
    assert_includes out[0].error.message, "requires capabilities teleport.v1"
  end

  def test_a_session_closed_without_Shutdown_exits_1
    out, code, stderr = run_session(echo, [init_message, batch_message(1, ["a"])])
    assert_equal 1, code
    assert_equal :error, out.last.message
    assert_includes out.last.error.message, "closed the session without Shutdown"
    assert_includes stderr, "closed the session without Shutdown"
  end

  def test_an_exception_in_a_callback_is_fatal_with_class_where_and_backtrace
    op = echo { process_record { |_ctx, _r| raise KeyError, "nope" } }
    out, code, = run_session(op, [init_message, batch_message(7, ["a"])])
    assert_equal 1, code
    assert_equal "KeyError in batch 7: nope", out.last.error.message
    assert_includes out.last.error.detail, "test_session.rb"
  end

  def test_producing_to_an_undeclared_stream_or_a_non_string_is_a_ProduceError
    op = echo { process_record { |ctx, r| ctx.produce_record("nowhere", r.key, r.value) } }
    out, = run_session(op, [init_message, batch_message(1, ["a"])])
    assert_includes out.last.error.message, "Concord::ProduceError in batch 1: produce_record: stream \"nowhere\" is not in"
    op = echo { process_record { |ctx, r| ctx.produce_record("out", r.key, 5) } }
    out, = run_session(op, [init_message, batch_message(1, ["a"])])
    assert_includes out.last.error.message, "value must be a String, got Integer"
  end

  def test_a_record_over_max_record_bytes_is_refused_and_one_at_the_limit_passes
    op = echo { process_record { |ctx, r| ctx.produce_record("out", r.key, "x" * (r.key == "k" ? 9 : 10)) } }
    out, code, = run_session(op, [init_message(max_record_bytes: 10), batch_message(1, ["k"]), shutdown_message])
    assert_equal 0, code
    assert_equal 9, out.last.batch_done.produced[0].record.value.bytesize
    out, code, = run_session(op, [init_message(max_record_bytes: 10), batch_message(1, ["kk"])])
    assert_equal 1, code
    assert_includes out.last.error.message, "record of 12 bytes (key 2 + value 10) on stream \"out\" exceeds the limit of 10 bytes"
  end

  def test_binary_keys_and_values_pass_byte_exact
    keys = ["\x00", "\xff", "\x00\x01\xfe\xff", "\xc3\x28", "\xed\xa0\x80", ""].map(&:b)
    op = echo { process_record { |ctx, r| ctx.produce_record("out", r.key, r.key + "\xfe".b) } }
    out, = run_session(op, [init_message, batch_message(1, keys), shutdown_message])
    produced = out.last(1)[0].batch_done.produced
    assert_equal keys, produced.map { |p| p.record.key }
    assert_equal keys.map { |k| k + "\xfe".b }, produced.map { |p| p.record.value }
  end

  def test_metadata_validation_names_the_fix
    e = assert_raises(ArgumentError) { Concord::Metadata.new(name: "op", ostreams: ["bad name"]) }
    assert_includes e.message, "ostreams: \"bad name\" is not a stream name; use 1-128 characters"
    e = assert_raises(ArgumentError) { Concord::Metadata.new(name: "op", istreams: [["in", :sideways]]) }
    assert_includes e.message, "use :shuffle, :group_by or :broadcast"
    e = assert_raises(ArgumentError) { Concord::Metadata.new(name: "op", states: %w[a a]) }
    assert_includes e.message, "\"a\" declared more than once"
    e = assert_raises(ArgumentError) { Concord::Metadata.new(name: "op", states: ["concord.timers"]) }
    assert_includes e.message, "reserved for the executor's own state"
  end

  def test_a_subclass_without_metadata_is_fatal_naming_the_method
    out, code, = run_session(Class.new(Concord::Computation).new, [init_message])
    assert_equal 1, code
    assert_includes out[0].error.message, "must override metadata"
  end

  def test_log_levels_are_checked
    op = echo { init { |ctx| ctx.log("x", level: :loud) } }
    out, = run_session(op, [init_message])
    assert_includes out.last.error.message, "level :loud is not one of"
  end
end
