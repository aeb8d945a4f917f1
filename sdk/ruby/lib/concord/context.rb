# frozen_string_literal: true

module Concord
  # Log levels of Context#log (operator.proto Log.Level).
  LOG_LEVELS = { debug: 1, info: 2, warning: 3, error: 4 }.freeze

  # One declared state of the operator, as ctx.state(name) returns it. Every call acts on the
  # value of the key in scope at that moment (ctx.state_key): the record's key in
  # process_record, the timer's state key in process_timer.
  class State
    # The declared state name.
    attr_reader :name

    def initialize(ctx, name)
      @ctx = ctx
      @name = name
    end

    # The value (a binary String) last set for the key in scope, or nil when it has none.
    def get
      @ctx.state_view[[@ctx.state_key, @name]]
    end

    # Sets the value for the key in scope: a String (stored as its bytes), at most the
    # executor's Init.max_state_value_bytes.
    def set(value)
      unless value.is_a?(String)
        raise StateError, "state #{@name.inspect}: set takes a String, got #{value.class}; " \
                          "convert it first (e.g. x.to_s)"
      end

      value = value.b
      max = @ctx.max_state_value_bytes
      if value.bytesize > max
        raise StateError, "state #{@name.inspect}: value of #{value.bytesize} bytes exceeds the limit of #{max} bytes " \
                          "(Init.max_state_value_bytes); keep large values elsewhere and store a reference"
      end
      @ctx.record_state([@ctx.state_key, @name], value.freeze)
    end
    alias value= set
    alias value get

    # Removes the value of the key in scope (get returns nil afterwards).
    def clear
      @ctx.record_state([@ctx.state_key, @name], nil)
    end

    def inspect = "#<Concord::State #{@name.inspect}>"
  end

  # What callbacks use to emit records, set timers and reach keyed state. Everything they do is
  # buffered and sent to the executor in the BatchDone of the batch being processed.
  class Context
    EMPTY = "".b.freeze
    private_constant :EMPTY

    # Operator name, instance index and instance count from the executor's Init.
    attr_reader :operator_name, :instance_index, :instance_count
    # The executor's input watermark when the batch was cut (ms since the Unix epoch; 0 when
    # not known yet, and in init).
    attr_reader :watermark_unix_ms
    # Used by State; not part of the operator API.
    attr_reader :state_view, :max_state_value_bytes # :nodoc:

    def initialize(init, metadata)
      @operator_name = init.operator_name
      @instance_index = init.instance_index
      @instance_count = init.instance_count
      @streams = metadata.ostreams.to_h { |s| [s, Wire.stream_prefix(s)] }
      @max_record_bytes = init.max_record_bytes.positive? ? init.max_record_bytes : Limits::RECORD_BYTES_MAX_DEFAULT
      @max_state_value_bytes =
        init.max_state_value_bytes.positive? ? init.max_state_value_bytes : Limits::STATE_VALUE_BYTES_MAX_DEFAULT
      @max_batches_in_flight = init.max_batches_in_flight
      @event_time = init.capabilities.include?(Limits::CAPABILITY_EVENT_TIME)
      @states = metadata.states.to_h { |n| [n, State.new(self, n)] }
      @parts = []
      @timers = {}
      @logs = []
      @current = nil
      @suffix = nil
      @now_us = 0
      # The values callbacks read, [key, name] => String or nil (cleared): the states shipped
      # with the batch, overlaid with this SDK's own mutations of later batches (@overlays,
      # [seq, mutations] oldest first) and of the batch being processed (@mutations, also what
      # BatchDone returns: a Hash keeps one entry per [key, name], the last change).
      @state_view = {}
      @mutations = {}
      @overlays = []
      @timer_state_key = EMPTY
      @in_init = false
      @watermark_unix_ms = 0
    end

    # The key whose state is in scope (a binary String): the record's key in process_record,
    # the timer's state key (the record key in scope when it was set) in process_timer, "" in
    # init.
    def state_key
      @current ? @current.key : @timer_state_key
    end

    # The declared state `name` (one of the metadata's states) for the key in scope:
    # #get -> String or nil, #set(String), #clear.
    def state(name)
      handle = @states[name]
      unless handle
        raise StateError, "state #{name.inspect} is not declared in the metadata's states #{@states.keys.sort.inspect}; " \
                          "add it to states: [...] or use a declared name"
      end
      if @in_init
        raise StateError, "state #{name.inspect} used in init: state belongs to a key and init has none in scope; " \
                          "use state in process_record or process_timer"
      end
      handle
    end

    # Emits a record on `stream` (one of the metadata's ostreams). `key` and `value` are
    # Strings, sent as their bytes. `event_time_ms` 0 inherits the event time of the record
    # being processed ("now" in init and timers).
    def produce_record(stream, key, value, event_time_ms: 0)
      prefix = @streams[stream]
      unless prefix
        raise ProduceError, "produce_record: stream #{stream.inspect} is not in the metadata's ostreams " \
                            "#{@streams.keys.sort.inspect}; add it to ostreams or produce to a declared stream"
      end
      key = bytes_of(key, "key")
      value = bytes_of(value, "value")
      k = key.bytesize
      v = value.bytesize
      if k + v > @max_record_bytes
        raise ProduceError, "produce_record: record of #{k + v} bytes (key #{k} + value #{v}) on stream #{stream.inspect} " \
                            "exceeds the limit of #{@max_record_bytes} bytes; store large payloads elsewhere and send a reference"
      end
      suffix = if event_time_ms.zero?
                 @suffix ||= Wire.suffix_of(@current)
               else
                 suffix_with_event_time(Integer(event_time_ms))
               end
      @parts << Wire.produced(prefix, key, value, suffix)
      nil
    end

    # Asks for process_timer(ctx, key, time_ms) at `time_ms`, an absolute time in ms since the
    # Unix epoch (not a delay). `domain:` :processing (the default) fires on the wall clock,
    # :event when the input watermark reaches `time_ms`. In an operator that declares states
    # the timer belongs to the key in scope (ctx.state_key), whose state process_timer sees:
    # one pending timer per (state key, key, domain); setting it again replaces its time.
    # Without declared states: one per (key, domain).
    def set_timer(key, time_ms, domain: TimeDomain::PROCESSING)
      raise TypeError, "set_timer: key must be a String, got #{key.class}" unless key.is_a?(String)

      wire = TimeDomain::WIRE[domain]
      unless wire
        raise ArgumentError, "set_timer: domain #{domain.inspect} is not a time domain; use :processing or :event"
      end
      if domain == TimeDomain::EVENT && !@event_time
        raise ArgumentError, "set_timer: event-time timers need an executor with the capability " \
                             "#{Limits::CAPABILITY_EVENT_TIME}, which this one lacks; use :processing or upgrade the executor"
      end

      # An operator without declared states keeps round-1 timers, one per key: keying them by
      # record key would turn its single "flush" timer into one per key seen.
      scope = @states.empty? ? EMPTY : state_key
      @timers[[scope, key.dup.freeze, wire]] = Integer(time_ms)
      nil
    end

    # Sends a log line to the executor's structured log (printing to $stdout works too).
    # `level` is :debug, :info (the default), :warning or :error.
    def log(message, level: :info)
      number = LOG_LEVELS[level] || raise(ArgumentError, "log: level #{level.inspect} is not one of #{LOG_LEVELS.keys.inspect}")
      @logs << Concord::Operator::V1::OperatorMessage.encode(
        Concord::Operator::V1::OperatorMessage.new(log: Concord::Operator::V1::Log.new(level: number, message: message.to_s))
      )
      nil
    end

    def inspect = "#<Concord::Context #{@operator_name}/#{@instance_index}>"

    # ---- used by the session and State, not part of the operator API ----

    def record_state(ref, value) # :nodoc:
      @state_view[ref] = value
      @mutations[ref] = value
    end

    def in_init=(flag) # :nodoc:
      @in_init = flag
    end

    # Before each record: produced records inherit its event time, trace and ingest time.
    def enter_record(record) # :nodoc:
      @current = record
      @suffix = nil
    end

    # Before init and each timer: produced records get event and ingest time "now".
    def enter_now(state_key = EMPTY) # :nodoc:
      now_us = Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond)
      @now_us = now_us
      @current = nil
      @timer_state_key = state_key
      @suffix = Wire.suffix_fields(now_us / 1000, EMPTY, now_us)
    end

    # Before the callbacks of `batch`: the watermark, and the state view (shipped states as of
    # batch.state_as_of_seq, then this SDK's own later mutations).
    def begin_batch(batch) # :nodoc:
      @watermark_unix_ms = batch.watermark_unix_ms
      return if @states.empty?

      as_of = batch.state_as_of_seq
      if as_of >= batch.seq
        raise ProtocolError, "batch #{batch.seq} carries state as of batch #{as_of}, which is not an earlier batch; " \
                             "the executor must set state_as_of_seq below seq"
      end
      unapplied = batch.seq - 1 - as_of
      if @max_batches_in_flight.positive? && unapplied > @max_batches_in_flight
        raise ProtocolError, "batch #{batch.seq} carries state as of batch #{as_of}: #{unapplied} earlier batches' state " \
                             "mutations are not applied, more than max_batches_in_flight #{@max_batches_in_flight}; the " \
                             "executor must apply BatchDone.state_mutations before it cuts more batches"
      end
      @overlays.reject! { |seq, _| seq <= as_of } if !@overlays.empty? && @overlays[0][0] <= as_of
      view = {}
      batch.states.each do |key_state|
        key = key_state.key
        key_state.values.each { |v| view[[key, v.name]] = v.value }
      end
      @overlays.each { |_, mutations| view.merge!(mutations) }
      @state_view = view
    end

    # The serialized messages that finish batch `seq`: logs, then BatchDone.
    def take(seq) # :nodoc:
      out = @logs
      mutations = @mutations
      out << Wire.batch_done(seq, @parts, @timers, mutations)
      unless mutations.empty?
        # Kept until a batch arrives whose shipped states include them (state_as_of_seq).
        @overlays << [seq, mutations]
        @mutations = {}
      end
      @logs = []
      @parts = []
      @timers = {}
      @current = nil
      out
    end

    private

    def bytes_of(data, what)
      # Binary Strings (every record key and value) are used as they are: Wire copies them.
      return data.encoding == Encoding::BINARY ? data : data.b if data.is_a?(String)

      raise ProduceError, "produce_record: #{what} must be a String, got #{data.class}; convert it first (e.g. x.to_s)"
    end

    def suffix_with_event_time(event_time_ms)
      current = @current
      return Wire.suffix_fields(event_time_ms, EMPTY, @now_us) unless current

      trace = current.trace ? Concord::Types::V1::TraceContext.encode(current.trace) : EMPTY
      Wire.suffix_fields(event_time_ms, trace, current.ingest_time_unix_us)
    end
  end
end
