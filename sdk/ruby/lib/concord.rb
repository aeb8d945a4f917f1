# frozen_string_literal: true

# Concord operator SDK and scheduler client for Ruby.
#
#   require "concord"
#
#   class Counter < Concord::Computation
#     def metadata
#       Concord::Metadata.new(name: "counter", istreams: [["words", :group_by]], ostreams: ["counts"])
#     end
#
#     def process_record(ctx, record)
#       ctx.produce_record("counts", record.key, "1")
#     end
#   end
#
#   Concord.serve(Counter.new)

# Generated modules are required by their proto paths (concord/types/v1/types_pb, ...) and live
# in concord/gen; putting that directory on the load path makes those requires resolve without
# editing generated code.
gen = File.expand_path("concord/gen", __dir__)
$LOAD_PATH.unshift(gen) unless $LOAD_PATH.include?(gen)

require "concord/types/v1/types_pb"
require "concord/operator/v1/operator_pb"
require_relative "concord/limits"
require_relative "concord/wire"
require_relative "concord/computation"
require_relative "concord/context"
require_relative "concord/session"
require_relative "concord/server"
require_relative "concord/scheduler_client"

module Concord
  VERSION = "0.1.0"
end
