namespace Concord.Sdk.Internal;

/// <summary>What this SDK tells the executor about itself in Metadata.</summary>
internal static class SdkInfo
{
    /// <summary>Sent as Metadata.sdk, for the executor's logs.</summary>
    public static readonly string Name =
        $"concord-dotnet/{typeof(SdkInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0"}";
}
