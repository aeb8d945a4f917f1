using System.Text.Json;
using System.Text.Json.Serialization;

namespace Concord.KafkaDev;

/// <summary>
/// &lt;home&gt;/kafka.json: where a running development Kafka is. The executor reads the same
/// file (Concord.Executor.Builtins.KafkaBootstrap) when a connector's bootstrap is "dev" or unset.
/// </summary>
public sealed record KafkaDevFile(
    [property: JsonPropertyName("bootstrap")] string Bootstrap,
    [property: JsonPropertyName("pid")] int Pid,
    [property: JsonPropertyName("partitions")] int Partitions,
    [property: JsonPropertyName("topics")] IReadOnlyList<string> Topics,
    [property: JsonPropertyName("started_unix_ms")] long StartedUnixMs)
{
    public const string FileName = "kafka.json";

    public static string PathIn(string home) => System.IO.Path.Combine(home, FileName);

    public static KafkaDevFile? Read(string home)
    {
        try
        {
            return JsonSerializer.Deserialize<KafkaDevFile>(File.ReadAllText(PathIn(home)));
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Writes atomically (temp file + rename) so a reader never sees half a file.</summary>
    public void Write(string home)
    {
        Directory.CreateDirectory(home);
        var target = PathIn(home);
        var temp = target + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(temp, target, overwrite: true);
    }
}
