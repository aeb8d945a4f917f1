package io.concord.sdk;

/** How a stream's records are spread over the operator's instances. */
public enum Grouping {
    /** Round-robin over the instances (the default). */
    SHUFFLE(concord.types.v1.Types.Grouping.GROUPING_SHUFFLE),
    /** Same key, same instance (the key is hashed into key groups). */
    GROUP_BY(concord.types.v1.Types.Grouping.GROUPING_GROUP_BY),
    /** Every instance receives every record. */
    BROADCAST(concord.types.v1.Types.Grouping.GROUPING_BROADCAST);

    final concord.types.v1.Types.Grouping proto;

    Grouping(concord.types.v1.Types.Grouping proto) {
        this.proto = proto;
    }
}
