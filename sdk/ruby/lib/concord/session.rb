# frozen_string_literal: true

module Concord
  # The executor broke the session protocol (wrong first message, bad Init, closed early).
  class ProtocolError < StandardError; end

  # One operator session: the protocol of operator.proto and docs/architecture.md ("Operator
  # session rules"), independent of the transport so it can be tested directly.
  class Session
    # How the process should exit once #run returned (Limits::EXIT_OK or EXIT_FATAL).
    attr_reader :exit_code

    def initialize(computation)
      @computation = computation
      @exit_code = nil
    end

    # Runs the session. `next_message` is called for each ExecutorMessage and returns it, or nil
    # when the executor closed its side; every serialized OperatorMessage is yielded, in order.
    def run(next_message)
      where = "Init"
      init = check_init(next_message.call)
      where = "metadata"
      metadata = @computation.metadata
      unless metadata.is_a?(Metadata)
        raise TypeError, "metadata must return a Concord::Metadata, got #{metadata.class}"
      end
      if !metadata.states.empty? && !init.capabilities.include?(Limits::CAPABILITY_KEYED_STATE)
        raise ProtocolError, "the operator declares states #{metadata.states.inspect} but the executor lacks the capability " \
                             "#{Limits::CAPABILITY_KEYED_STATE} (it supports #{init.capabilities.empty? ? 'nothing' : init.capabilities.to_a.join(', ')}), " \
                             "so the state would not be kept; upgrade the executor"
      end
      yield Operator::V1::OperatorMessage.encode(Operator::V1::OperatorMessage.new(
        metadata: Operator::V1::Metadata.new(metadata: metadata.to_proto, protocol_version: Limits::PROTOCOL_VERSION,
                                             capabilities: Limits::CAPABILITIES, sdk: Limits::SDK_NAME)
      ))

      ctx = Context.new(init, metadata)
      where = "init"
      ctx.enter_now
      ctx.in_init = true
      @computation.init(ctx)
      ctx.in_init = false
      ctx.take(0).each { |m| yield m }

      where = "session"
      while (message = next_message.call)
        case message.message
        when :process_batch
          batch = message.process_batch
          where = "batch #{batch.seq}"
          process(ctx, batch).each { |m| yield m }
          where = "session"
        when :shutdown
          where = "destroy"
          @computation.destroy
          @exit_code = Limits::EXIT_OK
          return
        else
          raise ProtocolError, "unexpected #{message.message || 'empty'} message after Init; the executor must send " \
                               "ProcessBatch or Shutdown"
        end
      end
      raise ProtocolError, "the executor closed the session without Shutdown"
    rescue StandardError, ScriptError, SystemStackError => e # every failure is fatal for the session
      warn "concord: fatal error in #{where}: #{e.class}: #{e.message}"
      warn((e.backtrace || []).map { |l| "  #{l}" }.join("\n"))
      @exit_code = Limits::EXIT_FATAL
      yield Operator::V1::OperatorMessage.encode(Operator::V1::OperatorMessage.new(
        error: Operator::V1::Error.new(message: "#{e.class} in #{where}: #{e.message}",
                                       detail: ([e.full_message(highlight: false)]).join, fatal: true)
      ))
    end

    private

    def check_init(message)
      raise ProtocolError, "the executor closed the session before sending Init" if message.nil?
      unless message.message == :init
        raise ProtocolError, "the first message of a session must be Init, got #{message.message || 'an empty message'}"
      end

      init = message.init
      if init.protocol_version != Limits::PROTOCOL_VERSION
        raise ProtocolError, "executor speaks operator protocol version #{init.protocol_version}, this SDK " \
                             "(#{Limits::SDK_NAME}) speaks #{Limits::PROTOCOL_VERSION}; use an SDK and executor of matching versions"
      end
      missing = init.required_capabilities.reject { |c| Limits::CAPABILITIES.include?(c) }
      unless missing.empty?
        raise ProtocolError, "the executor requires capabilities #{missing.join(', ')} that #{Limits::SDK_NAME} lacks " \
                             "(it supports #{Limits::CAPABILITIES.join(', ')}); upgrade the SDK"
      end
      init
    end

    def process(ctx, batch)
      ctx.begin_batch(batch)
      computation = @computation
      batch.records.each do |record|
        ctx.enter_record(record)
        computation.process_record(ctx, record)
      end
      batch.timers_fired.each do |timer|
        ctx.enter_now(timer.state_key)
        computation.process_timer(ctx, timer.key, timer.time_unix_ms)
      end
      ctx.take(batch.seq)
    end
  end
end
