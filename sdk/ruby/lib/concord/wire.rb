# frozen_string_literal: true

module Concord
  # Hand-written protobuf encoding of BatchDone, the one message on the hot path.
  #
  # Building BatchDone through google-protobuf objects allocates a Ruby object per produced
  # record and per field; writing the wire format into one binary String skips all of that.
  # Only the OperatorMessage{batch_done} shape is encoded here; every other message goes through
  # protobuf. Field numbers come from operator.proto and types.proto:
  #
  #   OperatorMessage.batch_done = 2      BatchDone.seq = 1, produced = 2, timers_set = 3,
  #                                       state_mutations = 4
  #   ProducedRecord.stream = 1, record = 2
  #   TimerSet.key = 1, time_unix_ms = 2, state_key = 3, domain = 4
  #   StateMutation.key = 1, name = 2, value = 3, clear = 4
  #   Record.key = 1, value = 2, event_time_unix_ms = 3, trace = 4, ingest_time_unix_us = 5
  module Wire
    # Varints of 0 .. SMALL_MAX - 1 (one or two bytes) are precomputed, so the lengths of
    # ordinary records are a lookup.
    SMALL_MAX = 1 << 14
    SMALL = Array.new(SMALL_MAX) do |i|
      (i < 0x80 ? [i] : [(i & 0x7F) | 0x80, i >> 7]).pack("C*").freeze
    end.freeze
    # int64 fields are encoded as their two's complement in 64 bits.
    UINT64_MASK = 0xFFFF_FFFF_FFFF_FFFF

    module_function

    # The protobuf varint encoding of a non-negative Integer, as a binary String.
    def varint(value)
      return SMALL[value] if value < SMALL_MAX

      out = []
      while value > 0x7F
        out << ((value & 0x7F) | 0x80)
        value >>= 7
      end
      out << value
      out.pack("C*")
    end

    # Length-delimited field: tag byte, length, bytes.
    def bytes_field(tag, data)
      n = data.bytesize
      tag + (n < SMALL_MAX ? SMALL[n] : varint(n)) + data
    end

    # ProducedRecord bytes before the record's length: the stream field and the record tag.
    def stream_prefix(stream)
      (bytes_field("\x0a".b, stream.b) + "\x12".b).freeze
    end

    # Record bytes after key and value (event time, trace, ingest time) of an input record.
    # protobuf serializes known fields in field-number order, so everything after fields 1 and 2
    # of the record's own encoding is exactly what a produced record inherits.
    def suffix_of(record)
      raw = record.class.encode(record)
      k = record.key.bytesize
      v = record.value.bytesize
      skip = 0
      skip += 1 + varint(k).bytesize + k if k.positive?
      skip += 1 + varint(v).bytesize + v if v.positive?
      raw.byteslice(skip, raw.bytesize - skip)
    end

    # Record bytes for fields 3..5 from their values (trace_bytes: a serialized TraceContext).
    def suffix_fields(event_time_unix_ms, trace_bytes, ingest_time_unix_us)
      out = String.new(encoding: Encoding::BINARY)
      out << "\x18".b << varint(event_time_unix_ms & UINT64_MASK) unless event_time_unix_ms.zero?
      out << bytes_field("\x22".b, trace_bytes) unless trace_bytes.empty?
      out << "\x28".b << varint(ingest_time_unix_us & UINT64_MASK) unless ingest_time_unix_us.zero?
      out
    end

    # Tags of the fields written on the hot path (field number << 3 | wire type).
    TAG_RECORD_KEY = "\x0a".b.freeze       # Record.key, length-delimited
    TAG_RECORD_VALUE = "\x12".b.freeze     # Record.value, length-delimited
    TAG_BATCH_PRODUCED = "\x12".b.freeze   # BatchDone.produced, length-delimited

    # One encoded `produced` entry of BatchDone (tag included): prefix from stream_prefix,
    # key and value binary Strings, suffix from suffix_of / suffix_fields. Written into one
    # String with its lengths computed first: this runs once per produced record.
    def produced(prefix, key, value, suffix)
      k = key.bytesize
      v = value.bytesize
      k_len = k < SMALL_MAX ? SMALL[k] : varint(k)
      v_len = v < SMALL_MAX ? SMALL[v] : varint(v)
      rec = 2 + k_len.bytesize + k + v_len.bytesize + v + suffix.bytesize
      rec_len = rec < SMALL_MAX ? SMALL[rec] : varint(rec)
      entry = prefix.bytesize + rec_len.bytesize + rec
      out = String.new(capacity: entry + 4, encoding: Encoding::BINARY)
      out << TAG_BATCH_PRODUCED << (entry < SMALL_MAX ? SMALL[entry] : varint(entry)) << prefix << rec_len
      out << TAG_RECORD_KEY << k_len << key << TAG_RECORD_VALUE << v_len << value << suffix
    end

    # A serialized OperatorMessage{batch_done}: produced_parts are already-encoded `produced`
    # entries; timers_set maps [state_key, key, domain] => time ms; state_mutations maps
    # [key, name] => the new value, or nil for a clear.
    def batch_done(seq, produced_parts, timers_set, state_mutations = nil)
      body = String.new(encoding: Encoding::BINARY)
      body << "\x08".b << varint(seq) unless seq.zero?
      produced_parts.each { |part| body << part }
      timers_set.each do |(state_key, key, domain), time_ms|
        timer = bytes_field("\x0a".b, key.b)
        timer << "\x10".b << varint(time_ms & UINT64_MASK) unless time_ms.zero?
        timer << bytes_field("\x1a".b, state_key) unless state_key.empty?
        timer << "\x20".b << varint(domain) unless domain.zero?
        body << bytes_field("\x1a".b, timer)
      end
      state_mutations&.each do |(key, name), value|
        mutation = key.empty? ? String.new(encoding: Encoding::BINARY) : bytes_field("\x0a".b, key)
        mutation << bytes_field("\x12".b, name.b)
        if value.nil?
          mutation << "\x20\x01".b
        elsif !value.empty?
          mutation << bytes_field("\x1a".b, value)
        end
        body << bytes_field("\x22".b, mutation)
      end
      bytes_field("\x12".b, body)
    end
  end
end
