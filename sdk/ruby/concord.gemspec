# frozen_string_literal: true

# The Concord operator SDK and scheduler client for Ruby. Not published: load it with
# `ruby -I sdk/ruby/lib` (docs/sdk-ruby.md), or build a local gem with `gem build concord.gemspec`.
# Its runtime dependencies come from Debian (ruby-grpc, ruby-google-protobuf; scripts/install-ruby.sh).
Gem::Specification.new do |spec|
  spec.name = "concord"
  spec.version = "0.1.0"
  spec.summary = "Concord stream processor: operator SDK and scheduler client"
  spec.description = "Write Concord operators in Ruby (MillWheel callbacks, timers, keyed state) " \
                     "and deploy topologies with the scheduler client."
  spec.authors = ["Concord"]
  spec.required_ruby_version = ">= 3.1"
  spec.files = Dir["lib/**/*.rb"]
  spec.require_paths = ["lib"]
  spec.add_runtime_dependency "google-protobuf", ">= 3.21"
  spec.add_runtime_dependency "grpc", ">= 1.51"
end
