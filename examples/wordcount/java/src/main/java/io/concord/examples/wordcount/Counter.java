package io.concord.examples.wordcount;

import com.google.protobuf.ByteString;
import concord.types.v1.Types.Record;
import io.concord.sdk.Computation;
import io.concord.sdk.ComputationServer;
import io.concord.sdk.Context;
import io.concord.sdk.Grouping;
import io.concord.sdk.Metadata;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * The word-count counter in Java: reads {@code words} grouped by key and emits, for every word,
 * its updated count on {@code counts} (key = the word, value = the count as UTF-8 decimal). Same
 * behaviour as the C#, Python and Go counters in examples/wordcount. Built by
 * scripts/build-java.sh into artifacts/java/bin/concord-java-counter.
 */
public final class Counter implements Computation {
    /** Counts per word; a mutable holder so a repeated word costs one lookup. */
    private final Map<ByteString, long[]> counts = new HashMap<>();

    @Override
    public Metadata metadata() {
        // The executor passes the deploy file's name; "counter" when run by hand.
        String name = System.getenv().getOrDefault("CONCORD_OPERATOR_NAME", "counter");
        return Metadata.builder(name).input("words", Grouping.GROUP_BY).output("counts").build();
    }

    @Override
    public void processRecord(Context ctx, Record record) {
        long[] n = counts.computeIfAbsent(record.getKey(), k -> new long[1]);
        n[0]++;
        ctx.produceRecord("counts", record.getKey(), ByteString.copyFrom(Long.toString(n[0]), StandardCharsets.US_ASCII));
    }

    public static void main(String[] args) {
        ComputationServer.serve(new Counter());
    }
}
