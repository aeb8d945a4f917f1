using System.Text.Json.Serialization;

namespace Concord.Hosting.Checkpoints.Internal;

/// <summary>Source-generated JSON for the checkpoint files: no reflection, stable camelCase names.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    IgnoreReadOnlyProperties = true, RespectNullableAnnotations = true, RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(InstanceManifest))]
[JsonSerializable(typeof(CheckpointMetadata))]
internal sealed partial class CheckpointJsonContext : JsonSerializerContext;
