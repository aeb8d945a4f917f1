# frozen_string_literal: true

# SchedulerClient's logs, metrics, traces, tail, checkpoints, savepoint, replace options, errors
# and standby redirects against a REAL scheduler of its own (test_scheduler_client.rb's deploys
# and kills would race these), started once for this file: a built-in generator with a delivery
# guarantee and trace sampling on every record, feeding the Ruby word-count counter started
# through a shell that first writes a line to stderr.

require_relative "test_scheduler_client"
require "socket"

class SchedulerClientObserveTest < Minitest::Test
  include Harness

  # The line the counter's process writes before the SDK starts; #logs must return it.
  COUNTER_LINE = "client-test: the counter process starts"
  # Bound of every wait for the scheduler's or the executors' state, in seconds: instances start,
  # records flow and checkpoints complete within it on a loaded machine.
  STATE_TIMEOUT_S = 60
  # Poll period of those waits, in seconds: another process's state has no event to await.
  POLL_S = 0.2

  def self.scheduler
    @scheduler ||= SchedulerClientTest::RealScheduler.new.tap do |s|
      Minitest.after_run { s.stop }
      Concord::SchedulerClient.open(s.address, token: s.token) do |client|
        client.deploy(words_spec("1"))
        client.deploy(counter_spec("1"))
        wait_for("both operators running") { all_running?(client) }
      end
    end
  end

  def self.all_running?(client)
    ops = client.list
    ops.size == 2 && ops.all? { |o| o.instances.all? { |i| i.state == :INSTANCE_STATE_RUNNING } }
  end

  # The source: a built-in generator with a delivery guarantee (so checkpoints are taken) that
  # samples every record for tracing.
  def self.words_spec(version)
    { name: "words", instances: 1, outputs: ["words"], delivery: "at_least_once",
      environment: { "CONCORD_TRACE_SAMPLE_EVERY" => "1", "VERSION" => version },
      builtin: { kind: "generator", options: { stream: "words", rate: SchedulerClientTest::GENERATOR_RATE,
                                               dictionary: SchedulerClientTest::WORDS } } }
  end

  def self.counter_spec(version)
    { "name" => "counter", "executable" => "/bin/sh", "args" => ["-c", "echo '#{COUNTER_LINE}' >&2; exec '#{SchedulerClientTest::COUNTER}'"],
      "instances" => 1, "mem" => 256, "environment" => { "VERSION" => version },
      "inputs" => [{ "stream" => "words", "grouping" => "group_by" }], "outputs" => ["counts"] }
  end

  # The block's first truthy result, polled until STATE_TIMEOUT_S; fails naming `what`.
  def self.wait_for(what)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + STATE_TIMEOUT_S
    loop do
      result = yield
      return result if result
      raise Minitest::Assertion, "#{what}: not within #{STATE_TIMEOUT_S} s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep POLL_S
    end
  end

  def wait_for(what, &block) = self.class.wait_for(what, &block)

  def with_client(token: scheduler.token, address: scheduler.address, &block)
    Concord::SchedulerClient.open(address, token: token, &block)
  end

  def scheduler = self.class.scheduler

  def test_list_says_this_scheduler_leads_alone
    with_client do |client|
      listed = client.list
      assert_equal %w[counter words], listed.map { |o| o.spec.name }
      assert_equal ["", false], [listed.leader, listed.from_standby?]
    end
  end

  def test_logs_return_the_line_the_operator_wrote_and_follow_stops_when_the_block_breaks
    with_client do |client|
      line = wait_for("the counter's line in its log") do
        client.logs("counter", instances: [0]).find { |l| l.line.include?(COUNTER_LINE) }
      end
      assert_equal ["counter", 0], [line.operator_name, line.instance_index]
      first = nil
      client.logs("words", tail_lines: 1, follow: true) do |l|
        first = l
        break
      end
      assert_equal "words", first.operator_name
    end
  end

  def test_instance_metrics_count_the_records_the_counter_read
    with_client do |client|
      metrics = wait_for("records counted in the counter's metrics") do
        m = client.instance_metrics("counter")
        m if !m.empty? && m[0].records_in_total.positive?
      end
      assert_equal [["counter", ""]], metrics.map { |m| [m.operator_name, m.error] }
    end
  end

  def test_traces_of_sampled_records_list_and_show_their_spans
    with_client do |client|
      trace = wait_for("a trace through the counter") { client.list_traces(limit: 50).find { |t| t.operators.include?("counter") } }
      spans = client.get_trace(trace.trace_id.upcase)
      assert_equal [trace.trace_id], spans.map(&:trace_id).uniq
      assert_includes spans.map(&:kind), "operator"
      error = assert_raises(Concord::SchedulerError) { client.get_trace("0" * 32) }
      assert_equal "NOT_FOUND", error.code_name
      assert_includes assert_raises(ArgumentError) { client.get_trace("not-a-trace") }.message, "32 hex digits"
    end
  end

  def test_tail_returns_the_counters_records
    with_client do |client|
      records = wait_for("records on counts") do
        r = client.tail("counts", records_max: 5)
        r unless r.empty?
      end
      assert_operator records.size, :<=, 5
      assert_equal %w[counter counts], [records[0].operator_name, records[0].stream]
      assert_match(/\A\d+\z/, records[0].value)
      error = assert_raises(Concord::SchedulerError) { client.tail("no-such-stream") }
      assert_equal "NOT_FOUND", error.code_name
      assert_includes error.details, "counts"
    end
  end

  def test_checkpoints_are_taken_and_a_savepoint_completes
    with_client do |client|
      wait_for("a completed checkpoint") { client.checkpoints.latest_completed_id.positive? }
      savepoint = client.trigger_savepoint
      assert_equal [true, :CHECKPOINT_STATUS_COMPLETED], [savepoint.savepoint, savepoint.status]
      assert_includes client.checkpoints.checkpoints.select(&:savepoint).map(&:checkpoint_id), savepoint.checkpoint_id
    end
  end

  def test_replace_runs_the_new_version_within_the_running_timeout_given
    with_client do |client|
      replaced = client.replace(self.class.counter_spec("2"), running_timeout_s: 30)
      assert_equal [false, "2"], [replaced.restarted, replaced.operator.spec.environment["VERSION"]]
      assert_equal [:INSTANCE_STATE_RUNNING], replaced.operator.instances.map(&:state)
      assert_includes assert_raises(ArgumentError) { client.replace(self.class.counter_spec("3"), running_timeout_s: 61) }.message,
                      "out of range"
    end
  end

  def test_replace_with_drop_state_restarts_the_operators_with_a_guarantee
    with_client do |client|
      wait_for("a completed checkpoint to restart from") { client.checkpoints.latest_completed_id.positive? }
      replaced = client.replace(self.class.words_spec("2"), drop_state: true)
      assert_equal [true, replaced.total_ms, "2"],
                   [replaced.restarted, replaced.switch_ms, replaced.operator.spec.environment["VERSION"]]
      # The next test finds the topology running again.
      wait_for("both operators running after the restart") { self.class.all_running?(client) }
    end
  end

  def test_errors_carry_the_status_code_and_the_schedulers_message
    with_client do |client|
      error = assert_raises(Concord::SchedulerError) { client.logs("ghost").to_a }
      assert_equal ["NOT_FOUND", "GetLogs"], [error.code_name, error.method_name]
      assert_includes error.details, "ghost"
      error = assert_raises(Concord::SchedulerError) { client.kill("ghost") }
      assert_includes error.details, "'ghost'"
    end
    with_client(token: "not-the-token") do |client|
      error = assert_raises(Concord::SchedulerError) { client.list }
      assert_equal "UNAUTHENTICATED", error.code_name
      refute_empty error.details
    end
  end

  # A standby that refuses every List naming the leader.
  class Standby < Concord::Scheduler::V1::Scheduler::Service
    def initialize(leader)
      super()
      @leader = leader
    end

    def list(_request, _call)
      raise GRPC::Unavailable, "this scheduler is a standby; the leader is #{@leader}"
    end
  end

  def test_a_standbys_refusal_is_followed_to_the_leader_and_a_dead_address_passed_over
    leader = scheduler.address.start_with?("http") ? scheduler.address : "http://#{scheduler.address}"
    server = GRPC::RpcServer.new(pool_size: 1)
    port = server.add_http2_port("127.0.0.1:0", :this_port_is_insecure)
    server.handle(Standby.new(leader))
    thread = Thread.new { server.run }
    server.wait_till_running(STATE_TIMEOUT_S)
    dead = TCPServer.new("127.0.0.1", 0).then { |s| s.addr[1].tap { s.close } }
    ["http://127.0.0.1:#{port}", "127.0.0.1:#{dead},#{leader}"].each do |addresses|
      with_client(address: addresses) do |client|
        assert_equal %w[counter words], client.list.map { |o| o.spec.name }, addresses
        assert_equal leader.delete_prefix("http://"), client.address
      end
    end
  ensure
    server&.stop
    thread&.join(STATE_TIMEOUT_S)
  end
end
