# frozen_string_literal: true

require "grpc"
require "concord/scheduler/v1/scheduler_services_pb"

module Concord
  # A scheduler call failed: `code` is the gRPC status code (Integer, GRPC::Core::StatusCodes),
  # `code_name` its name, `details` the scheduler's explanation.
  class SchedulerError < StandardError
    attr_reader :method_name, :code, :code_name, :details

    def initialize(method_name, code, details)
      @method_name = method_name
      @code = code
      @code_name = GRPC::Core::StatusCodes.constants.find { |c| GRPC::Core::StatusCodes.const_get(c) == code }&.to_s || "UNKNOWN"
      @details = details
      super("#{method_name} failed: #{@code_name}: #{details}")
    end
  end

  # What SchedulerClient#list returns: the OperatorStatus of every deployed operator, ordered by
  # name, and `leader` (the leading scheduler's address as the answering one knows it; "" for a
  # scheduler that always leads) and `from_standby?` (a standby answered: every instance then
  # shows as not running).
  class OperatorList < Array
    attr_reader :leader

    def initialize(operators, leader, from_standby)
      super(operators)
      @leader = leader
      @from_standby = from_standby
    end

    def from_standby? = @from_standby
  end

  # Client of the scheduler's user-facing gRPC API: deploy, replace, kill, scale, list and graph
  # the topology; logs, instance metrics, traces and stream tails; checkpoints and savepoints.
  #
  #   Concord::SchedulerClient.open("127.0.0.1:7400") do |scheduler|
  #     scheduler.deploy("name" => "counter", "executable" => "/abs/run-counter.sh", "instances" => 2,
  #                      "inputs" => [{ "stream" => "words", "grouping" => "group_by" }], "outputs" => ["counts"])
  #     scheduler.list.each { |op| puts op.spec.name }
  #   end
  #
  # `address` is "host:port" or "http://host:port" (what scheduler.json and
  # CONCORD_SCHEDULER_ADDRESS hold), or several comma-separated (a leader and its standbys): a
  # call goes to the first, follows a standby's refusal to the leader it names, and passes over
  # an unreachable one. `token` is the scheduler's operator token, sent as
  # `authorization: Bearer`; nil means SchedulerClient.default_token ($CONCORD_TOKEN, else the
  # home's token file). Every call has a deadline of `timeout_s` seconds and raises
  # SchedulerError on failure.
  class SchedulerClient
    S = Concord::Scheduler::V1
    T = Concord::Types::V1
    private_constant :S, :T

    # docs/security.md: the operator token every API call carries, and where clients find it.
    TOKEN_VARIABLE = "CONCORD_TOKEN"
    TOKEN_FILE_NAME = "token"
    HOME_VARIABLE = "CONCORD_HOME"
    # docs/cluster.md: how a standby refuses and names the leader (Concord.Hosting.LeaderRedirect).
    STANDBY_PREFIX = "this scheduler is a standby"
    LEADER_MARKER = "the leader is "
    TRACE_ID = /\A\h{32}\z/

    GROUPINGS = { "shuffle" => :GROUPING_SHUFFLE, "group_by" => :GROUPING_GROUP_BY, "broadcast" => :GROUPING_BROADCAST }.freeze
    # The deploy file's "delivery" names (OperatorSpecValidator.DeliveryNames), weakest first.
    DELIVERIES = { "at_most_once" => :DELIVERY_AT_MOST_ONCE, "at_least_once" => :DELIVERY_AT_LEAST_ONCE,
                   "exactly_once" => :DELIVERY_EXACTLY_ONCE }.freeze
    # Deploy-file keys (as `concord deploy FILE.json` reads them) and OperatorSpec fields they fill.
    DEPLOY_KEYS = %w[name executable args instances cpus mem environment files inputs outputs builtin
                     allow_cycles delivery unavailable_reader_drop_after_ms image].freeze

    # The home directory: $CONCORD_HOME, else ~/.concord.
    def self.default_home
      home = ENV.fetch(HOME_VARIABLE, "")
      home.empty? ? File.join(Dir.home, ".concord") : home
    end

    # The token a client uses when given none: $CONCORD_TOKEN, else the token file of the
    # scheduler home; nil when neither exists.
    def self.default_token
      token = ENV.fetch(TOKEN_VARIABLE, "").strip
      return token unless token.empty?

      token = File.read(File.join(default_home, TOKEN_FILE_NAME)).strip
      token.empty? ? nil : token
    rescue SystemCallError
      nil
    end

    # Opens a client, yields it and closes it; without a block returns it (call #close).
    def self.open(address, **options)
      client = new(address, **options)
      return client unless block_given?

      begin
        yield client
      ensure
        client.close
      end
    end

    def initialize(address, timeout_s: Limits::SCHEDULER_CALL_TIMEOUT_S, token: nil)
      @addresses = address.split(",").map(&:strip).reject(&:empty?).map { |a| self.class.target(a) }
      if @addresses.empty?
        raise ArgumentError, "#{address.inspect} is not a scheduler address; use host:port or http://host:port, e.g. 127.0.0.1:7400"
      end

      @address = @addresses.first
      @stubs = {}
      @timeout_s = timeout_s
      token = self.class.default_token if token.nil?
      @metadata = token ? { "authorization" => "Bearer #{token}" } : {}
    end

    # Every scheduler given, in the order tried; and the one calls go to now (the first given,
    # or the leader found since), as host:port.
    attr_reader :addresses, :address

    # host:port of an address; refuses https (the scheduler serves plain HTTP/2).
    def self.target(address)
      if address.start_with?("https://")
        raise ArgumentError, "the scheduler serves plain HTTP/2; use http://host:port, not #{address}"
      end

      address.delete_prefix("http://").delete_prefix("dns:///").chomp("/")
    end

    # The leader's http(s) address a standby named in `details`, or nil.
    def self.leader_in(details)
      at = details.to_s.index(LEADER_MARKER) or return nil
      address = details[(at + LEADER_MARKER.size)..].split(/[ ;,)\n]/, 2).first.to_s.sub(%r{[./]+\z}, "")
      address.match?(%r{\Ahttps?://[^/\s]+}) ? address : nil
    end

    def close
      @stubs.each_value { |channel, _| channel.close }
      @stubs.clear
    end
    # Deploys an operator: `spec` is a Concord::Types::V1::OperatorSpec or a deploy-file Hash
    # (see SchedulerClient.spec_from_deploy_hash). Returns the stored OperatorStatus.
    def deploy(spec)
      call(:deploy, S::DeployRequest.new(spec: self.class.spec_of(spec))).operator
    end

    # Replaces a deployed operator by a new version of the same name (`spec` as for #deploy). A
    # rolling replace (new instances beside the old, routing switched, old ones drained; rolled
    # back on failure). An operator with a delivery guarantee is replaced by a restart from a
    # fresh checkpoint keeping its state; with `drop_state: true` from the last completed
    # checkpoint with empty state for it (docs/live-changes.md). Returns the ReplaceResponse
    # (operator, switch_ms, total_ms, restarted). The new instances may take `running_timeout_s`
    # to run (at most REPLACE_RUNNING_TIMEOUT_S, as `concord deploy --replace --timeout`). The
    # deadline is at least REPLACE_CALL_TIMEOUT_S.
    def replace(spec, drop_state: false, running_timeout_s: Limits::REPLACE_RUNNING_TIMEOUT_S)
      unless running_timeout_s.positive? && running_timeout_s <= Limits::REPLACE_RUNNING_TIMEOUT_S
        raise ArgumentError, "running_timeout_s #{running_timeout_s} is out of range; use more than 0 and at most " \
                             "#{Limits::REPLACE_RUNNING_TIMEOUT_S} s (the scheduler's bound)"
      end

      request = S::ReplaceRequest.new(spec: self.class.spec_of(spec), drop_state: drop_state ? true : false,
                                      running_timeout_ms: [1, (running_timeout_s * 1000).to_i].max)
      call(:replace, request, [@timeout_s, Limits::REPLACE_CALL_TIMEOUT_S].max)
    end

    # Stops every instance of `name` and removes it from the topology.
    def kill(name)
      call(:kill, S::KillRequest.new(name: name))
      nil
    end

    # Changes the number of instances of `name`. Returns the stored OperatorStatus. Scaling an
    # operator with a delivery guarantee waits for a checkpoint, so the deadline is at least
    # CHECKPOINT_CALL_TIMEOUT_S.
    def scale(name, instances)
      call(:scale, S::ScaleRequest.new(name: name, instances: Integer(instances)),
           [@timeout_s, Limits::CHECKPOINT_CALL_TIMEOUT_S].max).operator
    end

    # Every deployed operator (OperatorStatus), ordered by name, as an OperatorList (an Array
    # that also says #leader and #from_standby?).
    def list
      response = call(:list, S::ListRequest.new)
      OperatorList.new(response.operators.to_a, response.leader, response.from_standby)
    end

    # The GraphResponse: operators and one edge per (stream, producer, reader).
    def graph
      call(:graph, S::GraphRequest.new)
    end

    # Lines of the executor.log of `name`'s instances (the executor's events and the operator's
    # stdout/stderr), oldest first, each a LogLine (operator_name, instance_index, line), given
    # to the block; without a block, an Enumerator. `instances`: indexes to read (nil: every
    # instance); `tail_lines`: lines of history per instance, 0..LOG_TAIL_LINES_MAX (0: none,
    # only new lines with follow), as `concord logs --tail`. Without `follow` the call has the
    # usual deadline; with it, new lines keep coming until the block breaks (or the Enumerator
    # is dropped). SchedulerError NOT_FOUND for an operator that is not deployed.
    def logs(name, instances: nil, tail_lines: Limits::LOG_TAIL_LINES_DEFAULT, follow: false, &block)
      unless (0..Limits::LOG_TAIL_LINES_MAX).cover?(tail_lines)
        raise ArgumentError, "tail_lines #{tail_lines} is out of range; use 0..#{Limits::LOG_TAIL_LINES_MAX}"
      end

      request = S::GetLogsRequest.new(operator_name: name, instance_indexes: Array(instances).map { |i| Integer(i) },
                                      tail_lines: tail_lines.zero? ? -1 : tail_lines, follow: follow ? true : false)
      return enum_for(:logs, name, instances: instances, tail_lines: tail_lines, follow: follow) unless block

      stream_logs(request, &block)
    end

    # The current figures of every running instance (of `name` only, if given): InstanceMetrics
    # ordered by operator then index. Counters are totals: compute rates from two calls.
    def instance_metrics(name = "")
      call(:get_instance_metrics, S::GetInstanceMetricsRequest.new(operator_name: name)).instances.to_a
    end

    # Recent sampled traces (TraceSummary), newest first; `limit` 1..TRACE_LIST_MAX. Sources
    # sample one record in CONCORD_TRACE_SAMPLE_EVERY (docs/observability.md).
    def list_traces(limit: Limits::TRACE_LIST_DEFAULT)
      unless (1..Limits::TRACE_LIST_MAX).cover?(limit)
        raise ArgumentError, "limit #{limit} is out of range; use 1..#{Limits::TRACE_LIST_MAX}"
      end

      call(:list_traces, S::ListTracesRequest.new(limit: limit)).traces.to_a
    end

    # Every Span of one trace (32 hex digits, as #list_traces gives them), by start time;
    # SchedulerError NOT_FOUND when no executor holds it.
    def get_trace(trace_id)
      id = trace_id.to_s.strip
      raise ArgumentError, "#{trace_id.inspect} is not a trace id (32 hex digits); list_traces gives recent ones" unless id.match?(TRACE_ID)

      call(:get_trace, S::GetTraceRequest.new(trace_id: id.downcase)).spans.to_a
    end

    # The last records (TailRecord) produced on `stream`, each instance's oldest first;
    # `records_max` 1..TAIL_RECORDS_MAX. Executors start keeping a stream's records when a tail
    # asks for it, so a first call may be empty: poll. Deploys nothing; SchedulerError NOT_FOUND
    # (naming the streams there are) for a stream no deployed operator writes.
    def tail(stream, records_max: Limits::TAIL_RECORDS_DEFAULT)
      unless (1..Limits::TAIL_RECORDS_MAX).cover?(records_max)
        raise ArgumentError, "records_max #{records_max} is out of range; use 1..#{Limits::TAIL_RECORDS_MAX}"
      end

      call(:tail_stream, S::TailStreamRequest.new(stream: stream, records_max: records_max)).records.to_a
    end

    # The ListCheckpointsResponse: `checkpoints` (CheckpointInfo) newest first, the one in
    # progress first, and `latest_completed_id` (what a restore would use; 0 when none).
    def checkpoints
      call(:list_checkpoints, S::ListCheckpointsRequest.new)
    end

    # Takes a savepoint now (a checkpoint kept until deleted by hand) and returns its
    # CheckpointInfo once completed; SchedulerError FAILED_PRECONDITION naming why it could not.
    # The deadline is at least CHECKPOINT_CALL_TIMEOUT_S.
    def trigger_savepoint
      call(:trigger_savepoint, S::TriggerSavepointRequest.new, [@timeout_s, Limits::CHECKPOINT_CALL_TIMEOUT_S].max).savepoint
    end

    # An OperatorSpec from a deploy-file shaped Hash (String or Symbol keys: "name",
    # "executable", "args", "instances", "cpus", "mem" (MB), "inputs" => [{"stream",
    # "grouping"}], "outputs", "environment", "files", "builtin" => {"kind", "options"},
    # "allow_cycles", "delivery", "unavailable_reader_drop_after_ms", "image"; docs/deploy-file.md),
    # checked as the CLI checks them, with the same wording; raises ArgumentError. Paths are
    # sent as given: make them absolute (the CLI resolves relative ones against the deploy
    # file's directory; this client has no such file).
    def self.spec_from_deploy_hash(hash)
      spec = hash.transform_keys(&:to_s)
      unknown = (spec.keys - DEPLOY_KEYS).sort
      unless unknown.empty?
        raise ArgumentError, "deploy spec: unknown keys #{unknown.join(', ')}; allowed keys are #{DEPLOY_KEYS.sort.join(', ')}"
      end

      allow_cycles = spec.fetch("allow_cycles", false)
      unless [true, false].include?(allow_cycles)
        raise ArgumentError, "deploy spec: allow_cycles is #{allow_cycles.inspect}; use true or false"
      end

      out = T::OperatorSpec.new(
        name: spec.fetch("name", "").to_s, executable: spec.fetch("executable", "").to_s,
        args: spec.fetch("args", []).map(&:to_s), instances: Integer(spec.fetch("instances", 1)),
        cpus: Float(spec.fetch("cpus", 0)), mem_mb: Integer(spec.fetch("mem", 0)),
        environment: spec.fetch("environment", {}).to_h { |k, v| [k.to_s, v.to_s] },
        files: spec.fetch("files", []).map(&:to_s), expected_outputs: spec.fetch("outputs", []).map(&:to_s),
        allow_cycles: allow_cycles
      )
      out.delivery = delivery(spec["delivery"]) if spec.key?("delivery")
      if spec.key?("unavailable_reader_drop_after_ms")
        out.unavailable_reader_drop_after_ms = drop_after_ms(spec["unavailable_reader_drop_after_ms"])
      end
      out.image = image(spec["image"]) if spec.key?("image")
      spec.fetch("inputs", []).each do |item|
        item = item.is_a?(String) ? { "stream" => item } : item.transform_keys(&:to_s)
        grouping = item.fetch("grouping", "shuffle").to_s
        unless GROUPINGS.key?(grouping)
          raise ArgumentError, "deploy spec: input #{item['stream'].inspect} has grouping #{grouping.inspect}; " \
                               "use one of #{GROUPINGS.keys.join(', ')}"
        end
        out.expected_inputs << T::InputStream.new(name: item.fetch("stream", "").to_s, grouping: GROUPINGS[grouping])
      end
      builtin = spec["builtin"]
      if builtin
        builtin = builtin.transform_keys(&:to_s)
        out.builtin = T::BuiltinOperator.new(kind: builtin.fetch("kind", "").to_s,
                                             options: builtin.fetch("options", {}).to_h { |k, v| [k.to_s, v.to_s] })
      end
      out
    end

    def self.spec_of(spec)
      spec.is_a?(Hash) ? spec_from_deploy_hash(spec) : spec
    end

    # The DeliveryGuarantee of a deploy Hash's "delivery", with the CLI's wording on error.
    def self.delivery(value)
      unless value.is_a?(String)
        quote = value.is_a?(Numeric) ? "; quote it: \"#{value}\"" : ""
        raise ArgumentError, "deploy spec: delivery: expected a string, got #{describe(value)}#{quote}"
      end
      DELIVERIES.fetch(value) do
        close = closest_name(value, DELIVERIES.keys)
        hint = close ? "did you mean \"#{close}\"? " : ""
        raise ArgumentError, "deploy spec: delivery: \"#{value}\" is not a delivery guarantee; #{hint}use one of: " \
                             "#{DELIVERIES.keys.join(', ')} (default at_most_once; see docs/guarantees.md)"
      end
    end

    # A deploy Hash's "image": a String, with the CLI's wording on error. Whether it is an image
    # reference is checked by the scheduler (OperatorSpecValidator.ImageProblem), as for the CLI.
    def self.image(value)
      raise ArgumentError, "deploy spec: image: expected a string, got #{describe(value)}" unless value.is_a?(String)
      if value.empty?
        raise ArgumentError, "deploy spec: image: is empty; give an image reference such as " \
                             "\"registry.example.com/team/counter:1.0\", or remove \"image\""
      end
      value
    end

    # A deploy Hash's "unavailable_reader_drop_after_ms", range-checked with the CLI's wording.
    def self.drop_after_ms(value)
      field = "unavailable_reader_drop_after_ms"
      top = Limits::UNAVAILABLE_READER_DROP_AFTER_MS_MAX
      value = value.to_i if value.is_a?(Float) && value == value.floor
      unless value.is_a?(Integer)
        got = value.is_a?(Float) ? "#{value}, which is not a whole number" : describe(value)
        raise ArgumentError, "deploy spec: #{field}: expected a whole number such as 3000, got #{got}"
      end
      unless (1..top).cover?(value)
        raise ArgumentError, "deploy spec: #{field}: #{value} is out of range; use 1..#{top}: how long, in ms, records " \
                             "for a reader instance that is down wait before they are dropped (at_most_once)"
      end
      value
    end

    # A JSON type in words, as the CLI names it.
    def self.describe(value)
      case value
      when nil then "null"
      when true, false then "a boolean"
      when Numeric then "a number"
      when String then "a string"
      when Hash then "an object"
      when Array then "an array"
      else value.class.name
      end
    end

    # The known name closest to `unknown` if close enough to be a typo (a third of the name, at
    # least 2 edits), else nil: the CLI's DeployFile.ClosestName, so hints read the same.
    def self.closest_name(unknown, known)
      unknown = unknown.downcase
      best, distance = known.map do |candidate|
        previous = (0..candidate.size).to_a
        unknown.each_char.with_index(1) do |a, i|
          current = [i]
          candidate.each_char.with_index(1) do |b, j|
            current << [current[j - 1] + 1, previous[j] + 1, previous[j - 1] + (a == b ? 0 : 1)].min
          end
          previous = current
        end
        [candidate, previous.last]
      end.min_by { |_, d| d }
      best && distance <= [2, unknown.size / 3].max ? best : nil
    end

    private_class_method :delivery, :drop_after_ms, :describe

    private

    def stub(address = @address)
      @stubs[address] ||= begin
        channel = GRPC::Core::Channel.new(address, { "grpc.max_receive_message_length" => Limits::GRPC_MESSAGE_BYTES_MAX },
                                          :this_channel_is_insecure)
        [channel, S::Scheduler::Stub.new(address, nil, channel_override: channel)]
      end
      @stubs[address][1]
    end

    def error_name(method) = method.to_s.split("_").map(&:capitalize).join

    # Where a call goes after @address was unavailable: the leader a standby named, else a
    # scheduler not tried yet; nil when there is none.
    def next_after(error, tried)
      tried << @address
      leader = self.class.leader_in(error.details)
      leader = self.class.target(leader) if leader
      return leader if leader && leader != @address

      @addresses.find { |a| !tried.include?(a) }
    end

    # Runs `block` on the current scheduler, moving to another on UNAVAILABLE (at most
    # SCHEDULER_TRIES_MAX tries) when `movable` still says so.
    def with_redirects(method, movable: -> { true })
      tried = []
      attempt = 0
      begin
        attempt += 1
        yield stub
      rescue GRPC::Unavailable => e
        if attempt < Limits::SCHEDULER_TRIES_MAX && movable.call && (following = next_after(e, tried))
          @address = following
          retry
        end
        raise SchedulerError.new(error_name(method), e.code, e.details)
      rescue GRPC::BadStatus => e
        raise SchedulerError.new(error_name(method), e.code, e.details)
      end
    end

    def call(method, request, timeout_s = @timeout_s)
      deadline = Time.now + timeout_s # one deadline for the call, however many schedulers it tries
      with_redirects(method) do |s|
        s.public_send(method, request, deadline: deadline, metadata: @metadata)
      end
    end

    def stream_logs(request)
      received = false
      with_redirects(:get_logs, movable: -> { !received }) do |s|
        deadline = request.follow ? nil : Time.now + @timeout_s
        op = s.get_logs(request, deadline: deadline, metadata: @metadata, return_op: true)
        begin
          op.execute.each do |line|
            received = true
            yield line
          end
        ensure
          op.cancel unless op.cancelled?
        end
      end
      nil
    end
  end
end
