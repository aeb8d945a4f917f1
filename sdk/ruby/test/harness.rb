# frozen_string_literal: true

# Helpers shared by the SDK tests: ExecutorMessage builders, a Session driven from an Array,
# and OperatorProcess, a real operator process on a unix socket driven as the executor does.

require "socket"
require "minitest/autorun"
require "tmpdir"
require "timeout"
require "concord"
require "concord/operator/v1/operator_services_pb"

module Harness
  V = Concord::Operator::V1
  T = Concord::Types::V1
  ROOT = File.expand_path("../../..", __dir__)
  RUBY = "/usr/bin/ruby"
  LIB = File.expand_path("../lib", __dir__)
  # Bound of every wait on another process in seconds: a broken operator fails the test
  # instead of hanging it; generous because the machine is shared.
  TEST_TIMEOUT_S = 30
  # How often a wait for the operator's socket looks again, in seconds.
  SOCKET_POLL_S = 0.02

  module_function

  def init_message(capabilities: Concord::Limits::CAPABILITIES, max_record_bytes: 1024 * 1024,
                   max_batches_in_flight: 4, max_state_value_bytes: 0, name: "op", protocol_version: 1)
    V::ExecutorMessage.new(init: V::Init.new(
      protocol_version: protocol_version, capabilities: capabilities,
      required_capabilities: [Concord::Limits::CAPABILITY_BATCH_PIPELINING], operator_name: name,
      instance_index: 0, instance_count: 1, max_batches_in_flight: max_batches_in_flight,
      max_record_bytes: max_record_bytes, max_state_value_bytes: max_state_value_bytes
    ))
  end

  # A ProcessBatch of records whose keys are `keys` (values "v"), `extra` set on each record.
  def batch_message(seq, keys, timers: [], states: [], state_as_of_seq: 0, watermark_unix_ms: 0, **extra)
    V::ExecutorMessage.new(process_batch: V::ProcessBatch.new(
      seq: seq, records: keys.map { |k| T::Record.new(key: k.b, value: "v".b, **extra) },
      timers_fired: timers, states: states, state_as_of_seq: state_as_of_seq, watermark_unix_ms: watermark_unix_ms
    ))
  end

  def shutdown_message = V::ExecutorMessage.new(shutdown: V::Shutdown.new(reason: "test"))

  # Runs a Session over `messages`; returns [decoded OperatorMessages, exit code, stderr].
  def run_session(computation, messages)
    queue = messages.dup
    out = []
    session = Concord::Session.new(computation)
    stderr = capture_stderr { session.run(-> { queue.shift }) { |m| out << V::OperatorMessage.decode(m) } }
    [out, session.exit_code, stderr]
  end

  def capture_stderr
    old = $stderr
    $stderr = StringIO.new
    yield
    $stderr.string
  ensure
    $stderr = old
  end

  # A real operator process serving on a unix socket in a temporary directory, and one session
  # opened to it with Ruby gRPC, as the executor opens it.
  class OperatorProcess
    attr_reader :dir

    def initialize(argv, env = {})
      @dir = Dir.mktmpdir("cc-rb-")
      @socket = File.join(@dir, "op.sock")
      @stderr_path = File.join(@dir, "stderr")
      @pid = Process.spawn({ "CONCORD_OPERATOR_ADDRESS" => @socket }.merge(env), *argv,
                           chdir: @dir, err: @stderr_path, out: File::NULL)
      @requests = Queue.new
      @status = nil
    end

    # Opens the session; returns an Enumerator of decoded OperatorMessages.
    def open_session
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + TEST_TIMEOUT_S
      # The socket file appears at bind(), a moment before listen(): a session opened in between
      # is refused, so wait until a connection succeeds, not for the file.
      until listening?
        raise "operator did not listen on #{@socket}: #{stderr}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        raise "operator exited early: #{stderr}" if Process.waitpid(@pid, Process::WNOHANG)

        sleep SOCKET_POLL_S
      end
      stub = Concord::Operator::V1::Operator::Stub.new("unix:#{@socket}", :this_channel_is_insecure)
      requests = Enumerator.new do |y|
        while (m = @requests.pop)
          y << m
        end
      end
      @call = stub.session(requests, deadline: Time.now + TEST_TIMEOUT_S, return_op: true)
      @responses = @call.execute
    end

    def listening?
      return false unless File.exist?(@socket)

      UNIXSocket.new(@socket).close
      true
    rescue SystemCallError
      false
    end

    # Cancels the call, as an executor that dies does (its connection resets the stream).
    def cancel = @call.cancel

    def send(message) = @requests.push(message)

    # Completes the request stream, as the executor does after Shutdown.
    def close_requests = @requests.close

    # The exit code, waiting at most TEST_TIMEOUT_S.
    def wait
      return @status if @status

      Timeout.timeout(TEST_TIMEOUT_S) { @status = Process.wait2(@pid)[1].exitstatus }
    end

    def stderr = File.exist?(@stderr_path) ? File.read(@stderr_path) : ""

    def cleanup
      @requests.close
      unless @status
        begin
          Process.kill("KILL", @pid)
          Process.wait(@pid)
        rescue Errno::ESRCH, Errno::ECHILD
          nil
        end
      end
      FileUtils.remove_entry(@dir)
    end
  end
end
