# frozen_string_literal: true

# Operators as real processes on a unix socket, driven over gRPC as the executor drives them.

require_relative "harness"

class OperatorProcessTest < Minitest::Test
  include Harness

  OPERATORS = [Harness::RUBY, "-I", Harness::LIB, File.join(__dir__, "operators.rb")].freeze

  COUNTER = [File.join(Harness::ROOT, "examples", "wordcount", "ruby", "run-counter.sh")].freeze

  def start(mode, argv = OPERATORS + [mode])
    op = OperatorProcess.new(argv)
    @cleanup = op
    [op, op.open_session]
  end

  def teardown
    @cleanup&.cleanup
  end

  def test_pipelined_batches_are_answered_in_order_and_shutdown_runs_destroy_and_exits_0
    op, responses = start("echo")
    op.send(init_message)
    first = responses.next
    assert_equal :metadata, first.message
    assert_equal "op", first.metadata.metadata.name
    assert_equal "concord-ruby/0.1.0", first.metadata.sdk
    assert_equal 0, responses.next.batch_done.seq
    trace = T::TraceContext.new(trace_id: "t" * 16, parent_span_id: "s" * 8)
    op.send(batch_message(1, %w[a b], event_time_unix_ms: 1000, ingest_time_unix_us: 7))
    op.send(batch_message(2, ["c"], trace: trace))
    op.send(batch_message(3, ["d"] * 1000))
    one = responses.next.batch_done
    two = responses.next.batch_done
    three = responses.next.batch_done
    assert_equal [1, 2, 3], [one.seq, two.seq, three.seq]
    assert_equal [["out", "a", "v", 1000, 7], ["out", "b", "v", 1000, 7]],
                 one.produced.map { |p| [p.stream, p.record.key, p.record.value, p.record.event_time_unix_ms, p.record.ingest_time_unix_us] }
    assert_equal trace, two.produced[0].record.trace
    assert_equal 1000, three.produced.size
    op.send(shutdown_message)
    op.close_requests
    assert_raises(StopIteration) { responses.next }
    assert_equal 0, op.wait
    assert_equal "yes", File.read(File.join(op.dir, "destroyed"))
  end

  def test_the_wordcount_counter_counts_per_word_across_batches
    op, responses = start(nil, COUNTER)
    op.send(init_message)
    md = responses.next.metadata.metadata
    assert_equal ["counter", [["words", :GROUPING_GROUP_BY]], ["counts"]],
                 [md.name, md.inputs.map { |i| [i.name, i.grouping] }, md.outputs.to_a]
    assert_equal 0, responses.next.batch_done.seq
    op.send(batch_message(1, %w[a b a]))
    op.send(batch_message(2, ["a"] + ["b"] * 1000))
    first = responses.next.batch_done
    second = responses.next.batch_done
    assert_equal [%w[counts a 1], %w[counts b 1], %w[counts a 2]],
                 first.produced.map { |p| [p.stream, p.record.key, p.record.value] }
    assert_equal [%w[a 3], %w[b 1001]], [second.produced.first, second.produced.last].map { |p| [p.record.key, p.record.value] }
    op.send(shutdown_message)
    op.close_requests
    assert_raises(StopIteration) { responses.next }
    assert_equal 0, op.wait
  end

  def assert_fatal(mode, expected)
    op, responses = start(mode)
    op.send(init_message(max_record_bytes: 1024))
    assert_equal :metadata, responses.next.message
    assert_equal 0, responses.next.batch_done.seq
    op.send(batch_message(1, %w[ok boom never]))
    error = responses.next
    assert_equal :error, error.message
    assert error.error.fatal
    assert_includes error.error.message, expected
    refute_empty error.error.detail
    op.close_requests
    assert_raises(StopIteration) { responses.next }
    assert_equal 1, op.wait
    assert_includes op.stderr, expected.split(": ").last # "fatal error in <where>: <class>: <message>"
  end

  def test_an_exception_in_process_record_is_a_fatal_error_with_its_class_and_exit_1
    assert_fatal("raise", "ArgumentError in batch 1: boom on purpose")
  end

  def test_an_oversized_record_is_a_fatal_error_naming_the_limit
    assert_fatal("oversized", "exceeds the limit of 1024 bytes")
  end

  def test_the_executor_cancelling_the_call_ends_the_operator_with_exit_1
    op, responses = start("echo")
    op.send(init_message)
    assert_equal :metadata, responses.next.message
    assert_equal 0, responses.next.batch_done.seq
    op.cancel
    assert_equal 1, op.wait
    assert_includes op.stderr, "the executor closed the session without Shutdown"
  end

  def test_a_second_session_is_refused_while_the_first_is_open
    op, responses = start("echo")
    op.send(init_message)
    assert_equal :metadata, responses.next.message
    second = Concord::Operator::V1::Operator::Stub.new("unix:#{File.join(op.dir, 'op.sock')}", :this_channel_is_insecure)
    error = assert_raises(GRPC::FailedPrecondition) do
      second.session([init_message].each, deadline: Time.now + Harness::TEST_TIMEOUT_S).next
    end
    assert_includes error.details, "an operator serves exactly one session and it is already open"
    assert_equal 0, responses.next.batch_done.seq
  end

  def test_a_missing_address_is_a_usage_error_with_exit_2
    out = IO.popen({ "CONCORD_OPERATOR_ADDRESS" => nil }, [*OPERATORS, "echo"], err: %i[child out], &:read)
    assert_equal 2, $?.exitstatus
    assert_includes out, "CONCORD_OPERATOR_ADDRESS is not set"
  end
end
