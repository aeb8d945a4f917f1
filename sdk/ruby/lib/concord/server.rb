# frozen_string_literal: true

require "grpc"

module Concord
  # Serves the operator session on CONCORD_OPERATOR_ADDRESS with Ruby gRPC (Debian's ruby-grpc).
  module Server
    # The Session method with pre-serialized responses: they are binary Strings (see Wire), so
    # marshalling passes them through (Ruby gRPC's own marshal_proc calls `encode` on the
    # response's class).
    class RawResponseDesc < GRPC::RpcDesc
      def marshal_proc = proc { |bytes| bytes }
    end

    # The Operator service of operator.proto with pre-serialized responses.
    class Service
      include GRPC::GenericService

      self.marshal_class_method = :encode
      self.unmarshal_class_method = :decode
      self.service_name = "concord.operator.v1.Operator"

      rpc :Session, stream(Concord::Operator::V1::ExecutorMessage), stream(Concord::Operator::V1::OperatorMessage)
      rpc_descs[:Session] = RawResponseDesc.new(*rpc_descs[:Session].to_a)
    end

    # A one-shot flag threads can wait for with a timeout (Ruby 3.1's Queue#pop has none).
    class Latch
      def initialize
        @mutex = Mutex.new
        @cond = ConditionVariable.new
        @set = false
      end

      def set
        @mutex.synchronize do
          @set = true
          @cond.broadcast
        end
      end

      def set? = @mutex.synchronize { @set }

      # True once set; false when `timeout_s` (nil: forever) passed first.
      def wait(timeout_s = nil)
        deadline = timeout_s && (Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout_s)
        @mutex.synchronize do
          until @set
            if deadline
              left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
              return false if left <= 0

              @cond.wait(@mutex, left)
            else
              @cond.wait(@mutex)
            end
          end
          true
        end
      end
    end

    # The executor's messages, read by their own thread so the next batch is decoded while the
    # callbacks of this one run, and so the session can wait for the end of the request stream
    # with a bound (the linger). At most Limits::INBOUND_MESSAGES_MAX are buffered.
    class Inbox
      def initialize(requests)
        @queue = SizedQueue.new(Limits::INBOUND_MESSAGES_MAX)
        @closed = Latch.new
        @reader = Thread.new do
          requests.each { |m| @queue.push(m) }
        rescue StandardError
          nil # a broken call reads as the end of the stream; the session names it
        ensure
          @closed.set
          @queue.close
        end
      end

      # The next ExecutorMessage, or nil once the executor closed its side.
      def pop = @queue.pop

      # Waits until the executor closed its side, at most `timeout_s`; drops what it still sends.
      def linger(timeout_s)
        drain = Thread.new { nil while @queue.pop }
        @closed.wait(timeout_s)
        drain.kill
      end
    end

    # Routes Operator/Session to one Session; refuses a second one while the first is open.
    class Handler < Service
      attr_reader :session_opened, :finished, :exit_code

      def initialize(computation)
        super()
        @computation = computation
        @mutex = Mutex.new
        @opened = false
        @session_opened = Latch.new
        @finished = Latch.new
        @exit_code = nil
      end

      def session(requests)
        already = @mutex.synchronize { @opened.tap { @opened = true } }
        raise GRPC::FailedPrecondition, "an operator serves exactly one session and it is already open" if already

        @session_opened.set
        inbox = Inbox.new(requests)
        Enumerator.new do |out|
          session = Session.new(@computation)
          begin
            session.run(inbox.method(:pop)) { |message| out << message }
            # After the last message keep the call open until the executor closes its side
            # (docs/architecture.md, session rules), so the final Error is not lost.
            inbox.linger(Limits::SESSION_LINGER_S)
          ensure
            if session.exit_code.nil?
              warn "concord: the executor cancelled the session or disconnected before sending Shutdown; exiting"
            end
            @exit_code = session.exit_code || Limits::EXIT_FATAL
            @finished.set
          end
        end
      end
    end

    module_function

    # The gRPC listen address for an operator address: a unix socket path ("/x/op.sock",
    # "./op.sock" or "unix:///x/op.sock") or "host:port". Raises ArgumentError naming the fix.
    def grpc_address(text)
      if text.nil? || text.strip.empty?
        raise ArgumentError, "the operator address is empty; expected a unix socket path (/path/op.sock) or host:port (127.0.0.1:7001)"
      end

      path = text.start_with?("unix://") ? text.delete_prefix("unix://") : text
      if path.start_with?("/", "./")
        if path.bytesize > Limits::UNIX_SOCKET_PATH_BYTES_MAX
          raise ArgumentError, "unix socket path '#{path}' is longer than #{Limits::UNIX_SOCKET_PATH_BYTES_MAX} bytes; " \
                               "use a shorter working directory or a host:port address"
        end
        return path.start_with?("./") ? "unix:#{path}" : "unix://#{path}"
      end
      host, sep, port = path.rpartition(":")
      if sep.empty? || host.empty? || !port.match?(/\A\d+\z/) || !(1..65_535).cover?(port.to_i)
        raise ArgumentError, "'#{text}' is not an operator address; expected a unix socket path (/path/op.sock) or " \
                             "host:port (127.0.0.1:7001)"
      end
      path
    end

    def unix_path(address)
      return address.delete_prefix("unix://") if address.start_with?("unix://")
      return address.delete_prefix("unix:") if address.start_with?("unix:")

      nil
    end

    # See Concord.run.
    def run(computation, address = nil)
      if address.nil?
        address = ENV.fetch(Limits::OPERATOR_ADDRESS_VARIABLE, nil)
        if address.nil? || address.empty?
          var = Limits::OPERATOR_ADDRESS_VARIABLE
          warn "concord: #{var} is not set. Operators are started by the Concord executor, which sets it; " \
               "to run one by hand set it to a socket path, e.g. #{var}=/tmp/op.sock"
          return Limits::EXIT_USAGE
        end
      end
      begin
        listen = grpc_address(address)
      rescue ArgumentError => e
        warn "concord: #{Limits::OPERATOR_ADDRESS_VARIABLE}=#{address.inspect}: #{e.message}"
        return Limits::EXIT_USAGE
      end

      socket_path = unix_path(listen)
      File.unlink(socket_path) if socket_path && File.exist?(socket_path) # a stale socket would make bind fail

      handler = Handler.new(computation)
      server = GRPC::RpcServer.new(
        pool_size: Limits::SERVER_THREADS,
        server_args: { "grpc.max_receive_message_length" => Limits::GRPC_MESSAGE_BYTES_MAX,
                       "grpc.max_send_message_length" => Limits::GRPC_MESSAGE_BYTES_MAX,
                       "grpc.so_reuseport" => 0 }
      )
      begin
        port = server.add_http2_port(listen, :this_port_is_insecure)
        raise "bind failed" if port.nil? || port.zero?
      rescue StandardError => e
        warn "concord: cannot listen on #{address} (#{e.message}); check the path's directory exists and the port is free"
        return Limits::EXIT_FATAL
      end
      server.handle(handler)
      runner = Thread.new { server.run }
      begin
        unless handler.session_opened.wait(Limits::SESSION_OPEN_TIMEOUT_S)
          warn "concord: no session opened on #{address} within #{Limits::SESSION_OPEN_TIMEOUT_S.round} s; " \
               "the executor is gone, exiting"
          return Limits::EXIT_FATAL
        end
        handler.finished.wait
        handler.exit_code
      ensure
        stopper = Thread.new do
          server.wait_till_running(Limits::SHUTDOWN_GRACE_S)
          server.stop
        rescue StandardError
          nil
        end
        stopper.join(Limits::SHUTDOWN_GRACE_S)
        runner.join(Limits::SHUTDOWN_GRACE_S)
        File.unlink(socket_path) if socket_path && File.exist?(socket_path)
      end
    end
  end

  # Serves `computation` until the executor shuts the session down, then exits the process:
  # 0 after Shutdown, 1 after a fatal error, 2 when the address is missing or malformed.
  # `address` defaults to the CONCORD_OPERATOR_ADDRESS environment variable.
  def self.serve(computation, address: nil)
    code = run(computation, address: address)
    $stdout.flush
    $stderr.flush
    # exit! skips at_exit handlers: gRPC's threads may still be blocked in C calls, and
    # the session is over.
    Kernel.exit!(code)
  end

  # Like Concord.serve, but returns the exit code instead of exiting (for tests).
  def self.run(computation, address: nil)
    Server.run(computation, address)
  end

  class << self
    # The Python SDK's names.
    alias serve_computation serve
    alias run_computation run
  end
end
