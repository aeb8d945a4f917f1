using Concord.Contracts;

namespace Concord.Executor.Tests;

public class ExecutorLimitsTests
{
    [Fact]
    public void A_largest_record_fits_every_credit_window_and_queue_so_nothing_can_deadlock()
    {
        Assert.True(ExecutorLimits.InboundChannelCreditBytes >= ExecutorLimits.RecordSerializedBytesMax);
        Assert.True(ExecutorLimits.OutboundQueueBytesMax >= ExecutorLimits.RecordSerializedBytesMax);
        Assert.True(ExecutorLimits.InboundChannelCreditRows >= ExecutorLimits.BatchRowsMax);
        Assert.True(ProtocolLimits.GrpcMessageBytesMax >= ExecutorLimits.BatchBytesMax + ExecutorLimits.RecordSerializedBytesMax);
    }

    [Fact]
    public void Memory_bound_grows_with_outbound_channels_and_is_finite()
    {
        var small = ExecutorLimits.BufferedBytesMax(outboundChannels: 4);
        var large = ExecutorLimits.BufferedBytesMax(outboundChannels: 8);
        Assert.True(large > small);
        Assert.True(small > ExecutorLimits.InboundQueueBytesMax);
        Assert.True(ExecutorLimits.BufferedBytesMax() < 4L * 1024 * 1024 * 1024, "the default worst case must stay below 4 GiB");
    }
}
