# frozen_string_literal: true

# The SDK's copies of the protocol constants agree with proto/concord/limits.json, their one source.

require_relative "harness"
require "json"

class LimitsTest < Minitest::Test
  L = Concord::Limits
  FILE = File.join(Harness::ROOT, "proto", "concord", "limits.json")

  def test_copies_match_the_limits_file
    limits = JSON.parse(File.read(FILE))
    {
      "protocolVersion" => L::PROTOCOL_VERSION,
      "capabilities" => L::CAPABILITIES_SHARED,
      "operatorAddressVariable" => L::OPERATOR_ADDRESS_VARIABLE,
      "grpcMessageBytesMax" => L::GRPC_MESSAGE_BYTES_MAX,
      "recordBytesMax" => L::RECORD_BYTES_MAX_DEFAULT,
      "unixSocketPathBytesMax" => L::UNIX_SOCKET_PATH_BYTES_MAX,
      "streamNameCharsMax" => L::STREAM_NAME_CHARS_MAX,
      "unavailableReaderDropAfterMsMax" => L::UNAVAILABLE_READER_DROP_AFTER_MS_MAX
    }.each do |name, value|
      assert_equal limits.fetch(name), value, "#{name}: lib/concord/limits.rb differs from proto/concord/limits.json; copy the file's value"
    end
    # The file's pattern uses ^ and $; the Ruby copy uses \A and \z (see limits.rb) for the same language.
    assert_equal limits.fetch("streamNamePattern").sub("^", "\\A").sub(/\$\z/, "\\z"), L::STREAM_NAME_PATTERN.source
  end

  def test_stream_name_pattern_allows_exactly_up_to_the_bound
    assert_match L::STREAM_NAME_PATTERN, "a" * L::STREAM_NAME_CHARS_MAX
    refute_match L::STREAM_NAME_PATTERN, "a" * (L::STREAM_NAME_CHARS_MAX + 1)
    refute_match L::STREAM_NAME_PATTERN, ""
    refute_match L::STREAM_NAME_PATTERN, "a b"
    refute_match L::STREAM_NAME_PATTERN, "a\nb"
  end
end
