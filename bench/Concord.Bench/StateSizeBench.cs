using System.Diagnostics;
using System.Globalization;
using System.Text;
using Concord.Contracts;
using Concord.Executor.State;

namespace Concord.Bench;

/// <summary>
/// The state-size scenario of bench/StateSize.md, in process: fills a state backend with counter
/// keys (<c>key-0000000</c>…, state <c>count</c>, the ASCII count as value, as the conformance
/// case "state" stores it), checkpoints it fully, then after changing 1 % of the keys spread
/// over every key group and 1 % clustered in few groups (incremental), and restores the last
/// checkpoint into a new backend.
/// </summary>
public static class StateSizeBench
{
    private const string Name = "count";
    private const string OperatorName = "counter";

    public sealed record Result(string Backend, int Keys, double HeapBytesPerKey, double AccountedBytesPerKey, double DiskBytesPerKey,
        double SnapshotMs, double WriteMs, long WrittenBytes, double SharedBytesPerKey,
        long SpreadWrittenBytes, int SpreadGroups, long ClusteredWrittenBytes, int ClusteredGroups, double RestoreMs, bool RestoredAll);

    public static Result Run(string backend, int keys, string directory, TextWriter progress)
    {
        Directory.CreateDirectory(directory);
        var root = Path.Combine(directory, "checkpoints");
        Directory.CreateDirectory(root);
        var range = (0, ProtocolLimits.KeyGroupCount);
        var keyBytes = Enumerable.Range(0, keys).Select(Key).ToArray();
        IKeyedStateBackend Open(string name) => backend == "memory"
            ? new MemoryStateBackend(ProtocolLimits.KeyGroupCount, range, BenchLimits.StateSizeMemoryBytesMax)
            : new RocksDbStateBackend(Path.Combine(directory, name), ProtocolLimits.KeyGroupCount, range);

        GC.Collect();
        GC.Collect();
        var heapBefore = GC.GetTotalMemory(true);
        var state = Open("db");
        for (var i = 0; i < keys; i++)
        {
            state.Set(keyBytes[i], Name, Value(i + 1));
        }
        GC.Collect();
        GC.Collect();
        var heapAfter = GC.GetTotalMemory(true);
        var accounted = state.StateBytes;

        var watch = Stopwatch.StartNew();
        var snapshot = state.Snapshot(1);
        var snapshotMs = watch.Elapsed.TotalMilliseconds;
        watch.Restart();
        var full = Write(snapshot, root, 1);
        var writeMs = watch.Elapsed.TotalMilliseconds;
        var sharedBytes = DirectoryBytes(Path.Combine(root, "shared"));
        progress.WriteLine($"  {backend}: {keys:N0} keys set; snapshot {snapshotMs:0.0} ms, write {writeMs:0} ms, {full.WrittenBytes:N0} bytes");

        // 1 % spread: every 100th key, so every key group changes.
        var spreadGroups = new HashSet<int>();
        for (var i = 0; i < keys; i += 100)
        {
            state.Set(keyBytes[i], Name, Value(i + 2));
            spreadGroups.Add(KeyGroups.Of(keyBytes[i], ProtocolLimits.KeyGroupCount));
        }
        var spread = Write(state.Snapshot(2), root, 2);

        // 1 % clustered: the same number of keys, taken from the fewest key groups.
        var clusteredGroups = new HashSet<int>();
        var clusteredKeys = keyBytes.Select(k => (Key: k, Group: KeyGroups.Of(k, ProtocolLimits.KeyGroupCount)))
            .OrderBy(k => k.Group).Take(Math.Max(1, keys / 100));
        foreach (var (key, group) in clusteredKeys)
        {
            state.Set(key, Name, Value(3));
            clusteredGroups.Add(group);
        }
        var clustered = Write(state.Snapshot(3), root, 3);
        var expectedBytes = state.StateBytes;
        state.Dispose();
        var diskBytes = backend == "memory" ? 0 : DirectoryBytes(Path.Combine(directory, "db"));

        watch.Restart();
        using var restored = Open("restored");
        restored.Restore(Path.Combine(root, "chk-3"), OperatorName);
        var restoreMs = watch.Elapsed.TotalMilliseconds;
        var restoredAll = restored.StateBytes == expectedBytes;
        progress.WriteLine($"  {backend}: incremental spread {spread.WrittenBytes:N0} bytes, clustered {clustered.WrittenBytes:N0} bytes; restore {restoreMs:0} ms{(restoredAll ? "" : $" (state bytes {restored.StateBytes:N0}, expected {expectedBytes:N0})")}");

        return new Result(backend, keys, backend == "memory" ? (heapAfter - heapBefore) / (double)keys : double.NaN, accounted / (double)keys,
            diskBytes / (double)keys, snapshotMs, writeMs, full.WrittenBytes, sharedBytes / (double)keys,
            spread.WrittenBytes, spreadGroups.Count, clustered.WrittenBytes, clusteredGroups.Count, restoreMs, restoredAll);
    }

    public static string Render(IReadOnlyList<Result> results)
    {
        var md = new StringBuilder();
        md.AppendLine($"State size of {results[0].Keys:N0} counter keys (bench/StateSize.md; keys of 11 bytes, state `count`, ASCII values of 1-7 bytes; {ProtocolLimits.KeyGroupCount} key groups, one instance):");
        md.AppendLine();
        md.AppendLine("| backend | heap B/key | accounted B/key | working dir B/key | checkpoint file B/key | snapshot (sync) ms | write ms | full checkpoint bytes | 1 % spread: bytes (groups) | 1 % clustered: bytes (groups) | restore ms |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        static string Num(double v, string format) => double.IsNaN(v) || v == 0 ? "–" : v.ToString(format, CultureInfo.InvariantCulture);
        foreach (var r in results)
        {
            md.AppendLine($"| {r.Backend} | {Num(r.HeapBytesPerKey, "0.0")} | {Num(r.AccountedBytesPerKey, "0.0")} | {Num(r.DiskBytesPerKey, "0.0")} | {r.SharedBytesPerKey:0.0} | {r.SnapshotMs:0.0} | {r.WriteMs:N0} | {r.WrittenBytes:N0} | " +
                $"{r.SpreadWrittenBytes:N0} ({r.SpreadGroups}) | {r.ClusteredWrittenBytes:N0} ({r.ClusteredGroups}) | {r.RestoreMs:N0}{(r.RestoredAll ? "" : " **incomplete**")} |");
        }
        return md.ToString();
    }

    private static byte[] Key(int i) => Encoding.ASCII.GetBytes($"key-{i:0000000}");

    private static byte[] Value(int count) => Encoding.ASCII.GetBytes(count.ToString(CultureInfo.InvariantCulture));

    private static SnapshotResult Write(IStateSnapshot snapshot, string root, ulong id)
    {
        using (snapshot)
        {
            using var timeout = new CancellationTokenSource(BenchLimits.StateWriteTimeoutMs);
            return snapshot.WriteAsync(Path.Combine(root, $"chk-{id}"), OperatorName, 0, timeout.Token).GetAwaiter().GetResult();
        }
    }

    private static long DirectoryBytes(string path) =>
        Directory.Exists(path) ? new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) : 0;
}
