using Concord.Executor.Metrics;

namespace Concord.Observability.Tests;

public sealed class ProcStatTests
{
    [Fact]
    public void Proc_stat_reads_cpu_seconds_and_resident_memory_of_a_live_process()
    {
        var self = ProcStat.Read(Environment.ProcessId);

        Assert.NotNull(self);
        Assert.True(self.Value.CpuSeconds > 0, $"cpu {self.Value.CpuSeconds}");
        Assert.True(self.Value.ResidentBytes > 10 << 20, $"rss {self.Value.ResidentBytes}");
    }

    [Fact]
    public void Proc_stat_of_a_process_that_does_not_exist_is_null()
    {
        Assert.Null(ProcStat.Read(int.MaxValue));
    }
}
