# frozen_string_literal: true

module Concord
  # Raised in the user's callback by Context#produce_record for a record the protocol forbids
  # (undeclared stream, too large, key or value not a String). It is a bug in the operator, so
  # if it escapes the callback the session ends with a fatal error.
  class ProduceError < ArgumentError; end

  # Raised in the user's callback by Context#state and State#get/set/clear for a use the
  # protocol forbids (a name not declared in metadata's states, a value over the executor's
  # limit, state in init where no key is in scope). It is a bug in the operator, so if it
  # escapes the callback the session ends with a fatal error.
  class StateError < ArgumentError; end

  # How a stream's records are spread over this operator's instances: a Symbol in the API,
  # the types.proto Grouping number on the wire.
  module StreamGrouping
    # Round-robin over the instances (the default).
    SHUFFLE = :shuffle
    # Same key, same instance (the key is hashed into key groups).
    GROUP_BY = :group_by
    # Every instance receives every record.
    BROADCAST = :broadcast
    # Symbol => Grouping enum number of types.proto.
    WIRE = { shuffle: 1, group_by: 2, broadcast: 3 }.freeze
  end

  # What clock a timer follows (Context#set_timer's `domain:`).
  module TimeDomain
    # Fires when the wall clock reaches the timer's time (the default).
    PROCESSING = :processing
    # Fires when the executor's input watermark reaches the timer's time ("event-time.v1").
    EVENT = :event
    # Symbol => TimeDomain enum number of operator.proto.
    WIRE = { processing: 1, event: 2 }.freeze
  end

  # What the operator says about itself.
  #
  # `istreams` items are a stream name (grouping :shuffle) or a `[name, grouping]` pair
  # (grouping one of :shuffle, :group_by, :broadcast); `ostreams` are the stream names the
  # operator may produce to; `states` are the names of the keyed state it uses through
  # `ctx.state(name)` (docs/guarantees.md).
  class Metadata
    attr_reader :name, :istreams, :ostreams, :states

    def initialize(name:, istreams: [], ostreams: [], states: [])
      unless name.is_a?(String) && !name.empty?
        raise ArgumentError, "Metadata name must be a non-empty String equal to the deploy file's name"
      end

      @name = name.dup.freeze
      @istreams = istreams.map { |s| Metadata.input_stream(s) }.freeze
      @ostreams = ostreams.map { |s| Metadata.stream_name(s, "ostreams") }.freeze
      if states.is_a?(String)
        raise ArgumentError, "states: give an Array of names, e.g. states: [#{states.inspect}], not a String"
      end

      @states = states.map { |s| Metadata.state_name(s) }.freeze
      repeated = @states.select { |s| @states.count(s) > 1 }.uniq.sort
      return if repeated.empty?

      raise ArgumentError, "states: #{repeated.map(&:inspect).join(', ')} declared more than once; declare each name once"
    end

    def to_s
      "Metadata(name=#{@name.inspect}, istreams=#{@istreams.inspect}, ostreams=#{@ostreams.inspect}, states=#{@states.inspect})"
    end
    alias inspect to_s

    # The types.proto OperatorMetadata message.
    def to_proto
      Concord::Types::V1::OperatorMetadata.new(
        name: @name,
        inputs: @istreams.map { |n, g| Concord::Types::V1::InputStream.new(name: n, grouping: StreamGrouping::WIRE.fetch(g)) },
        outputs: @ostreams.to_a,
        states: @states.map { |n| Concord::Types::V1::StateDescriptor.new(name: n, kind: :STATE_KIND_VALUE) }
      )
    end

    def self.state_name(name)
      unless name.is_a?(String) && Limits::STATE_NAME_PATTERN.match?(name)
        raise ArgumentError, "states: #{name.inspect} is not a state name; use 1-#{Limits::STATE_NAME_CHARS_MAX} characters from [A-Za-z0-9_.-]"
      end
      if name.start_with?(Limits::STATE_NAME_RESERVED_PREFIX)
        raise ArgumentError, "states: #{name.inspect} starts with #{Limits::STATE_NAME_RESERVED_PREFIX.inspect}, which is " \
                             "reserved for the executor's own state; choose another name"
      end
      name.dup.freeze
    end

    def self.stream_name(name, where)
      unless name.is_a?(String) && Limits::STREAM_NAME_PATTERN.match?(name)
        raise ArgumentError, "#{where}: #{name.inspect} is not a stream name; use 1-#{Limits::STREAM_NAME_CHARS_MAX} characters from [A-Za-z0-9_.-]"
      end

      name.dup.freeze
    end

    def self.input_stream(item)
      return [stream_name(item, "istreams"), StreamGrouping::SHUFFLE].freeze if item.is_a?(String)

      if item.is_a?(Array) && item.size == 2
        name, grouping = item
        unless StreamGrouping::WIRE.key?(grouping)
          raise ArgumentError, "istreams: grouping #{grouping.inspect} of stream #{name.inspect} is not a grouping; " \
                               "use :shuffle, :group_by or :broadcast"
        end
        return [stream_name(name, "istreams"), grouping].freeze
      end
      raise ArgumentError, "istreams: #{item.inspect} is neither a stream name nor a [name, grouping] pair"
    end
  end

  # Base class of an operator: override #metadata and the callbacks you need. Every callback
  # runs on one thread, in order.
  #
  # Records handed to #process_record are Concord::Types::V1::Record messages: `record.key` and
  # `record.value` are binary Strings, `record.event_time_unix_ms` an Integer.
  class Computation
    # Called once before any record; may produce records and set timers.
    def init(ctx); end

    # Called for each input record.
    def process_record(ctx, record); end

    # Called when a timer set with ctx.set_timer(key, time_ms) is due. The state in scope
    # (ctx.state_key) is the record key that was in scope when the timer was set.
    def process_timer(ctx, key, time_ms); end

    # Called once on Shutdown, before the process exits 0.
    def destroy; end

    # Returns a Metadata naming the operator and its streams.
    def metadata
      raise NotImplementedError, "#{self.class.name} must override metadata"
    end
  end

  # A Computation made from blocks by Concord.computation; see there.
  class BlockComputation < Computation
    # The DSL of Concord.computation's block (self inside it).
    class Builder
      def initialize(name)
        @name = name
        @istreams = []
        @ostreams = []
        @states = []
        @callbacks = {}
      end

      # Reads `stream` with `grouping` (:shuffle, :group_by or :broadcast).
      def input(stream, grouping = StreamGrouping::SHUFFLE)
        @istreams << [stream, grouping]
      end

      # May produce to `stream`.
      def output(stream)
        @ostreams << stream
      end

      # Uses keyed state `name` (ctx.state(name)).
      def state(name)
        @states << name
      end

      # The callbacks: init { |ctx| }, process_record { |ctx, record| },
      # process_timer { |ctx, key, time_ms| }, destroy { }.
      %i[init process_record process_timer destroy].each do |callback|
        define_method(callback) { |&block| @callbacks[callback] = block || raise(ArgumentError, "#{callback} needs a block") }
      end

      def build
        BlockComputation.new(Metadata.new(name: @name, istreams: @istreams, ostreams: @ostreams, states: @states),
                             @callbacks)
      end
    end

    NOTHING = proc {}
    private_constant :NOTHING

    def initialize(metadata, callbacks)
      super()
      @metadata = metadata
      @init = callbacks.fetch(:init, NOTHING)
      @process_record = callbacks.fetch(:process_record, NOTHING)
      @process_timer = callbacks.fetch(:process_timer, NOTHING)
      @destroy = callbacks.fetch(:destroy, NOTHING)
    end

    attr_reader :metadata

    def init(ctx) = @init.call(ctx)
    def process_record(ctx, record) = @process_record.call(ctx, record)
    def process_timer(ctx, key, time_ms) = @process_timer.call(ctx, key, time_ms)
    def destroy = @destroy.call
  end

  # Builds an operator from blocks instead of a subclass:
  #
  #   counter = Concord.computation("counter") do
  #     input "words", :group_by
  #     output "counts"
  #     process_record { |ctx, record| ctx.produce_record("counts", record.key, "1") }
  #   end
  #   Concord.serve(counter)
  def self.computation(name, &block)
    raise ArgumentError, "Concord.computation needs a block that declares streams and callbacks" unless block

    builder = BlockComputation::Builder.new(name)
    builder.instance_eval(&block)
    builder.build
  end
end
