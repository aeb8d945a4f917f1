# frozen_string_literal: true

# SchedulerClient against a REAL scheduler (artifacts/bin/Concord.Scheduler, built by
# scripts/setup.sh) on a fresh home and a free port, running a built-in generator and the Ruby
# word-count counter; plus the deploy-Hash checks, which need no scheduler.

require_relative "harness"
require "json"

class SchedulerClientTest < Minitest::Test
  include Harness

  SCHEDULER_DLL = File.join(ROOT, "artifacts", "bin", "Concord.Scheduler", "release", "Concord.Scheduler.dll")
  EXECUTOR_DLL = File.join(ROOT, "artifacts", "bin", "Concord.Executor", "release", "Concord.Executor.dll")
  COUNTER = File.join(ROOT, "examples", "wordcount", "ruby", "run-counter.sh")
  WORDS = File.join(ROOT, "examples", "wordcount", "words.txt")
  # How long the scheduler may take to write scheduler.json, in seconds (a loaded 2-core
  # machine starts .NET slowly).
  SCHEDULER_START_TIMEOUT_S = 60
  # How long a clean scheduler stop (SIGTERM: it stops every instance) may take, in seconds;
  # after that it is killed.
  SCHEDULER_STOP_TIMEOUT_S = 30
  # Generator rate in words per second: enough to exercise the counter, not to load the machine.
  GENERATOR_RATE = 100

  # A scheduler process on its own home, started once for this file and stopped after the run.
  class RealScheduler
    attr_reader :home, :address, :token

    def initialize
      [SCHEDULER_DLL, EXECUTOR_DLL].each do |f|
        raise "#{f} is missing; run scripts/setup.sh (it builds the scheduler and executor)" unless File.exist?(f)
      end
      @home = Dir.mktmpdir("cc-rb-sched-")
      @log = "#{@home}.log"
      @pid = Process.spawn({ "CONCORD_EXECUTOR_DLL" => EXECUTOR_DLL, "CONCORD_TOKEN" => nil },
                           "dotnet", SCHEDULER_DLL, "--home", @home, "--port", "0", "--data-root", Harness::ROOT,
                           out: @log, err: %i[child out])
      json = File.join(@home, "scheduler.json")
      deadline = now + SCHEDULER_START_TIMEOUT_S
      until File.exist?(json)
        raise "the scheduler exited before serving:\n#{output}" if Process.waitpid(@pid, Process::WNOHANG)
        raise "no scheduler.json in #{@home} within #{SCHEDULER_START_TIMEOUT_S} s:\n#{output}" if now > deadline

        sleep 0.1
      end
      @address = JSON.parse(File.read(json)).fetch("address")
      @token = File.read(File.join(@home, "token")).strip
    end

    def output = File.exist?(@log) ? File.read(@log) : ""

    def stop
      Process.kill("TERM", @pid)
      Timeout.timeout(SCHEDULER_STOP_TIMEOUT_S) { Process.wait(@pid) }
    rescue Timeout::Error
      Process.kill("KILL", @pid)
      Process.wait(@pid)
    ensure
      FileUtils.rm_rf(@home)
      FileUtils.rm_f(@log)
    end

    def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def self.scheduler
    @scheduler ||= RealScheduler.new.tap { |s| Minitest.after_run { s.stop } }
  end

  def scheduler = self.class.scheduler

  def counter_spec(environment = {})
    { "name" => "counter", "executable" => COUNTER, "instances" => 1, "mem" => 256, "environment" => environment,
      "inputs" => [{ "stream" => "words", "grouping" => "group_by" }], "outputs" => ["counts"] }
  end

  def test_deploy_graph_scale_replace_list_and_kill_on_a_real_scheduler
    Concord::SchedulerClient.open(scheduler.address, token: scheduler.token) do |client|
      generator = client.deploy(name: "words", instances: 1, outputs: ["words"],
                                builtin: { kind: "generator", options: { stream: "words", rate: GENERATOR_RATE, dictionary: WORDS } })
      assert_equal "generator", generator.spec.builtin.kind
      counter = client.deploy(counter_spec)
      assert_equal ["counter", 1], [counter.spec.name, counter.spec.instances]

      edges = client.graph.edges.map { |e| [e.stream, e.from_operator, e.to_operator, e.grouping] }
      assert_includes edges, ["words", "words", "counter", :GROUPING_GROUP_BY]

      assert_equal 2, client.scale("counter", 2).spec.instances
      replaced = client.replace(counter_spec("VERSION" => "2"))
      assert_equal "2", replaced.operator.spec.environment["VERSION"]
      assert_operator replaced.total_ms, :>, 0
      listed = client.list
      assert_equal %w[counter words], listed.map { |o| o.spec.name }
      assert_equal [2, "2"], [listed[0].spec.instances, listed[0].spec.environment["VERSION"]]

      client.kill("counter")
      client.kill("words")
      assert_empty client.list
      error = assert_raises(Concord::SchedulerError) { client.kill("counter") }
      assert_equal "NOT_FOUND", error.code_name
      assert_includes error.message, "Kill failed: NOT_FOUND:"
    end
  end

  def test_a_wrong_token_is_refused_by_the_scheduler_and_a_missing_one_read_from_the_home
    Concord::SchedulerClient.open(scheduler.address, token: "not-the-token-of-this-scheduler") do |client|
      error = assert_raises(Concord::SchedulerError) { client.list }
      assert_equal "UNAUTHENTICATED", error.code_name
    end
    old = [ENV.fetch("CONCORD_HOME", nil), ENV.fetch("CONCORD_TOKEN", nil)]
    ENV["CONCORD_HOME"] = scheduler.home
    ENV.delete("CONCORD_TOKEN")
    assert_equal scheduler.token, Concord::SchedulerClient.default_token
    Concord::SchedulerClient.open(scheduler.address) { |client| assert_kind_of Array, client.list }
  ensure
    ENV["CONCORD_HOME"], ENV["CONCORD_TOKEN"] = old
  end

  def test_an_https_address_is_refused_with_the_fix
    e = assert_raises(ArgumentError) { Concord::SchedulerClient.new("https://127.0.0.1:7400", token: "") }
    assert_includes e.message, "use http://host:port"
  end

  def test_deploy_hash_checks_use_the_clis_wording
    spec = Concord::SchedulerClient.spec_from_deploy_hash(
      "name" => "x", "inputs" => ["a", { "stream" => "b", "grouping" => "broadcast" }], "delivery" => "exactly_once",
      "unavailable_reader_drop_after_ms" => 5000.0, "allow_cycles" => true, "image" => "registry.example.com/team/x:1.0"
    )
    assert_equal "registry.example.com/team/x:1.0", spec.image
    assert_equal [["a", :GROUPING_SHUFFLE], ["b", :GROUPING_BROADCAST]], spec.expected_inputs.map { |i| [i.name, i.grouping] }
    assert_equal [:DELIVERY_EXACTLY_ONCE, 5000, true], [spec.delivery, spec.unavailable_reader_drop_after_ms, spec.allow_cycles]
    {
      { "nmae" => "x" } => "deploy spec: unknown keys nmae; allowed keys are",
      { "allow_cycles" => "yes" } => "allow_cycles is \"yes\"; use true or false",
      { "delivery" => "exactly-once" } => "did you mean \"exactly_once\"?",
      { "delivery" => 3 } => "expected a string, got a number; quote it: \"3\"",
      { "unavailable_reader_drop_after_ms" => 0 } => "0 is out of range; use 1..600000",
      { "unavailable_reader_drop_after_ms" => 1.5 } => "got 1.5, which is not a whole number",
      { "image" => 1 } => "image: expected a string, got a number",
      { "image" => "" } => "image: is empty; give an image reference",
      { "inputs" => [{ "stream" => "a", "grouping" => "keyed" }] } => "has grouping \"keyed\"; use one of shuffle, group_by, broadcast"
    }.each do |hash, message|
      e = assert_raises(ArgumentError, hash.inspect) { Concord::SchedulerClient.spec_from_deploy_hash(hash) }
      assert_includes e.message, message
    end
  end
end
