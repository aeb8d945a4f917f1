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

  # Client of the scheduler's gRPC API: deploy, replace, kill, scale, list and graph.
  #
  #   Concord::SchedulerClient.open("127.0.0.1:7400") do |scheduler|
  #     scheduler.deploy("name" => "counter", "executable" => "/abs/run-counter.sh", "instances" => 2,
  #                      "inputs" => [{ "stream" => "words", "grouping" => "group_by" }], "outputs" => ["counts"])
  #     scheduler.list.each { |op| puts op.spec.name }
  #   end
  #
  # `address` is "host:port" or "http://host:port" (what scheduler.json and
  # CONCORD_SCHEDULER_ADDRESS hold). `token` is the scheduler's operator token, sent as
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

    GROUPINGS = { "shuffle" => :GROUPING_SHUFFLE, "group_by" => :GROUPING_GROUP_BY, "broadcast" => :GROUPING_BROADCAST }.freeze
    # The deploy file's "delivery" names (OperatorSpecValidator.DeliveryNames), weakest first.
    DELIVERIES = { "at_most_once" => :DELIVERY_AT_MOST_ONCE, "at_least_once" => :DELIVERY_AT_LEAST_ONCE,
                   "exactly_once" => :DELIVERY_EXACTLY_ONCE }.freeze
    # Deploy-file keys (as `concord deploy FILE.json` reads them) and OperatorSpec fields they fill.
    DEPLOY_KEYS = %w[name executable args instances cpus mem environment files inputs outputs builtin
                     allow_cycles delivery unavailable_reader_drop_after_ms].freeze

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
      if address.start_with?("https://")
        raise ArgumentError, "the scheduler serves plain HTTP/2; use http://host:port, not #{address}"
      end

      target = address.delete_prefix("http://").delete_prefix("dns:///")
      @channel = GRPC::Core::Channel.new(target, { "grpc.max_receive_message_length" => Limits::GRPC_MESSAGE_BYTES_MAX },
                                         :this_channel_is_insecure)
      @stub = S::Scheduler::Stub.new(target, nil, channel_override: @channel)
      @timeout_s = timeout_s
      token = self.class.default_token if token.nil?
      @metadata = token ? { "authorization" => "Bearer #{token}" } : {}
    end

    def close
      @channel.close
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
    # (operator, switch_ms, total_ms, restarted). The deadline is at least REPLACE_CALL_TIMEOUT_S.
    def replace(spec, drop_state: false)
      call(:replace, S::ReplaceRequest.new(spec: self.class.spec_of(spec), drop_state: drop_state ? true : false),
           [@timeout_s, Limits::REPLACE_CALL_TIMEOUT_S].max)
    end

    # Stops every instance of `name` and removes it from the topology.
    def kill(name)
      call(:kill, S::KillRequest.new(name: name))
      nil
    end

    # Changes the number of instances of `name`. Returns the stored OperatorStatus.
    def scale(name, instances)
      call(:scale, S::ScaleRequest.new(name: name, instances: Integer(instances))).operator
    end

    # Every deployed operator (OperatorStatus), ordered by name.
    def list
      call(:list, S::ListRequest.new).operators.to_a
    end

    # The GraphResponse: operators and one edge per (stream, producer, reader).
    def graph
      call(:graph, S::GraphRequest.new)
    end

    # An OperatorSpec from a deploy-file shaped Hash (String or Symbol keys: "name",
    # "executable", "args", "instances", "cpus", "mem" (MB), "inputs" => [{"stream",
    # "grouping"}], "outputs", "environment", "files", "builtin" => {"kind", "options"},
    # "allow_cycles", "delivery", "unavailable_reader_drop_after_ms"; docs/deploy-file.md),
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

    def call(method, request, timeout_s = @timeout_s)
      @stub.public_send(method, request, deadline: Time.now + timeout_s, metadata: @metadata)
    rescue GRPC::BadStatus => e
      raise SchedulerError.new(method.to_s.capitalize, e.code, e.details)
    end
  end
end
