using System.Text.Json.Nodes;
using Concord.Contracts;
using Concord.Contracts.Types.V1;
using Google.Protobuf;

namespace Concord.Scheduler.Store;

/// <summary>
/// The JSON forms every topology store keeps (file, ZooKeeper, Kubernetes): an operator entry
/// and the list of checkpoints. One definition, so an entry or a checkpoint written by one store
/// reads the same in another and a field added here reaches all three.
/// </summary>
internal static class StoredJson
{
    /// <summary>Reads specs and metadata leniently: fields a newer scheduler wrote are skipped, not refused.</summary>
    private static readonly JsonParser ProtoParser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    /// <summary>
    /// An operator entry: name, version (left out where the store's own version stands for it,
    /// as ZooKeeper's zxid), spec, metadata when known, state_since when not 0.
    /// </summary>
    public static JsonObject WriteEntry(string name, long? version, OperatorSpec spec, OperatorMetadata? metadata, long stateSince)
    {
        var item = new JsonObject { ["name"] = name };
        if (version is { } v)
        {
            item["version"] = v;
        }
        item["spec"] = JsonNode.Parse(JsonFormatter.Default.Format(spec));
        if (metadata is not null)
        {
            item["metadata"] = JsonNode.Parse(JsonFormatter.Default.Format(metadata));
        }
        if (stateSince != 0)
        {
            item["state_since"] = stateSince;
        }
        return item;
    }

    /// <summary>The spec and the metadata (null when the entry has none) of a stored entry.</summary>
    public static (OperatorSpec Spec, OperatorMetadata? Metadata) ReadSpecAndMetadata(JsonObject item)
    {
        var spec = ProtoParser.Parse<OperatorSpec>(item["spec"]!.ToJsonString());
        var metadataNode = item["metadata"];
        var metadata = metadataNode is null ? null : ProtoParser.Parse<OperatorMetadata>(metadataNode.ToJsonString());
        return (spec, metadata);
    }

    /// <summary>The checkpoint records as a JSON array, in the order given.</summary>
    public static JsonArray WriteCheckpoints(IEnumerable<CheckpointRecord> checkpoints) =>
        new(checkpoints.Select(c => (JsonNode)WriteCheckpoint(c)).ToArray());

    /// <summary>The checkpoint records of a JSON array (none for null), oldest first.</summary>
    public static List<CheckpointRecord> ReadCheckpoints(JsonArray? checkpoints) =>
        (checkpoints ?? []).Select(n => ReadCheckpoint(n!.AsObject())).OrderBy(c => c.Id).ToList();

    private static JsonObject WriteCheckpoint(CheckpointRecord c) => new()
    {
        ["id"] = c.Id,
        ["savepoint"] = c.Savepoint,
        ["trigger_unix_ms"] = c.TriggerUnixMs,
        ["duration_ms"] = c.DurationMs,
        ["alignment_ms_max"] = c.AlignmentMsMax,
        ["state_bytes"] = c.StateBytes,
        ["written_bytes"] = c.WrittenBytes,
        ["directory"] = c.Directory,
        ["participants"] = c.Participants,
        ["operators"] = new JsonArray(c.Operators.Select(o => (JsonNode)new JsonObject
        {
            ["name"] = o.Name,
            ["instances"] = o.Instances,
            ["version"] = o.Version,
        }).ToArray()),
    };

    private static CheckpointRecord ReadCheckpoint(JsonObject c) => new(
        c["id"]!.GetValue<ulong>(),
        c["savepoint"]?.GetValue<bool>() ?? false,
        c["trigger_unix_ms"]?.GetValue<long>() ?? 0,
        c["duration_ms"]?.GetValue<long>() ?? 0,
        c["alignment_ms_max"]?.GetValue<long>() ?? 0,
        c["state_bytes"]?.GetValue<long>() ?? 0,
        c["written_bytes"]?.GetValue<long>() ?? 0,
        c["directory"]!.GetValue<string>(),
        c["participants"]?.GetValue<int>() ?? 0,
        (c["operators"]?.AsArray() ?? []).Select(o => new CheckpointedOperator(
            o!["name"]!.GetValue<string>(), o["instances"]!.GetValue<int>(), o["version"]?.GetValue<long>() ?? 0)).ToList());
}
