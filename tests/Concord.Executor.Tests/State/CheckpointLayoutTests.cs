using Concord.Contracts;
using Concord.Hosting.Checkpoints;

namespace Concord.Executor.Tests.State;

/// <summary>The checkpoint directory layout (docs/guarantees.md) as the coordinator and executors share it.</summary>
public sealed class CheckpointLayoutTests : IDisposable
{
    private readonly TempDirectory _temp = new("cc-layout-");

    private string Root => _temp.Path;

    [Fact]
    public void Paths_follow_the_documented_layout()
    {
        var chk = CheckpointLayout.CheckpointDirectory(Root, 7);

        Assert.Equal(Path.Combine(Root, "chk-7"), chk);
        Assert.Equal(Path.Combine(Root, "sp-7"), CheckpointLayout.SavepointDirectory(Root, 7));
        Assert.Equal(Path.Combine(chk, "_metadata.json"), CheckpointLayout.MetadataPath(chk));
        Assert.Equal(Path.Combine(chk, "word-count", "2.manifest.json"), CheckpointLayout.ManifestPath(chk, "word-count", 2));
        Assert.Equal(Path.Combine(chk, "word-count", "2.operator"), CheckpointLayout.OperatorSnapshotPath(chk, "word-count", 2));
        Assert.Equal("shared/word-count/kg-5-7.state", CheckpointLayout.StateFile("word-count", 5, 7));
        Assert.Equal("shared/word-count/kg-5-7-i3.state", CheckpointLayout.StateFile("word-count", 5, 7, strayInstance: 3));
        Assert.Equal(Root, CheckpointLayout.RootOf(chk));
        Assert.Equal(7UL, CheckpointLayout.IdOf(CheckpointLayout.SavepointDirectory(Root, 7)));
    }

    [Fact]
    public void List_finds_checkpoints_and_savepoints_by_id_and_tells_the_complete_ones()
    {
        Directory.CreateDirectory(CheckpointLayout.CheckpointDirectory(Root, 10));
        CheckpointLayout.WriteMetadata(CheckpointLayout.CheckpointDirectory(Root, 9),
            new CheckpointMetadata(CheckpointLayout.ManifestVersion, 9, false, "interval", 1, 2, []));
        CheckpointLayout.WriteMetadata(CheckpointLayout.SavepointDirectory(Root, 3),
            new CheckpointMetadata(CheckpointLayout.ManifestVersion, 3, true, "savepoint", 1, 2, []));
        Directory.CreateDirectory(Path.Combine(Root, "shared"));
        Directory.CreateDirectory(Path.Combine(Root, "chk-007"));

        var listed = CheckpointLayout.List(Root);

        Assert.Equal([(3UL, true, true), (9UL, false, true), (10UL, false, false)], listed.Select(c => (c.Id, c.Savepoint, c.Complete)));
        Assert.Equal(CheckpointLayout.CheckpointDirectory(Root, 9), listed[1].Directory);
        Assert.Empty(CheckpointLayout.List(Path.Combine(Root, "absent")));
    }

    [Theory]
    [InlineData("../etc")]
    [InlineData("Word")]
    [InlineData("-x")]
    [InlineData("a/b")]
    [InlineData("")]
    public void Operator_names_outside_the_protocol_rule_are_refused(string name)
    {
        Assert.False(CheckpointLayout.IsOperatorName(name));
        Assert.Throws<ArgumentException>(() => CheckpointLayout.ManifestPath(CheckpointLayout.CheckpointDirectory(Root, 1), name, 0));
    }

    [Fact]
    public void The_operator_name_rule_is_the_protocols()
    {
        Assert.Equal(ProtocolLimits.OperatorNameCharsMax, CheckpointLayout.OperatorNameCharsMax);
        foreach (var name in new[] { "a", "word-count", "0x", new string('a', 63), new string('a', 64), "a_b", "A", "-a" })
        {
            Assert.Equal(System.Text.RegularExpressions.Regex.IsMatch(name, ProtocolLimits.OperatorNamePattern), CheckpointLayout.IsOperatorName(name));
        }
    }

    [Theory]
    [InlineData("shared/op/../../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("shared/op/kg-1-01.state")]
    [InlineData("shared/op/other.state")]
    [InlineData("chk-1/op/kg-1-1.state")]
    public void A_manifest_cannot_name_a_file_outside_shared(string relative)
    {
        Assert.Throws<InvalidDataException>(() => CheckpointLayout.ResolveStateFile(Root, relative));
    }

    [Fact]
    public void Manifest_metadata_and_operator_snapshots_round_trip()
    {
        var chk = CheckpointLayout.CheckpointDirectory(Root, 3);
        var manifest = new InstanceManifest(CheckpointLayout.ManifestVersion, 3, "op", 1, 128, 64, 128,
            [new KeyGroupFile(70, CheckpointLayout.StateFile("op", 70, 3), 100, 4), new KeyGroupFile(5, CheckpointLayout.StateFile("op", 5, 2, 1), 50, 1)]);
        var metadata = new CheckpointMetadata(CheckpointLayout.ManifestVersion, 3, false, "interval", 1000, 1200,
            [new CheckpointParticipant("op", 1, 150, 100, 3, 20)]);

        CheckpointLayout.WriteManifest(chk, manifest);
        CheckpointLayout.WriteOperatorSnapshot(chk, "op", 1, new byte[] { 1, 2, 3 });
        CheckpointLayout.WriteOperatorSnapshot(chk, "op", 0, new byte[] { 9 });
        Assert.False(CheckpointLayout.IsComplete(chk));
        Assert.Null(CheckpointLayout.ReadMetadata(chk));
        CheckpointLayout.WriteMetadata(chk, metadata);

        var read = CheckpointLayout.ReadManifests(chk, "op").Single();
        Assert.Equal(manifest with { KeyGroups = [] }, read with { KeyGroups = [] });
        Assert.Equal(manifest.KeyGroups, read.KeyGroups);
        Assert.Equal(150, read.StateBytes);
        Assert.True(CheckpointLayout.IsComplete(chk));
        var readMetadata = CheckpointLayout.ReadMetadata(chk)!;
        Assert.Equal(metadata.Participants, readMetadata.Participants);
        Assert.Equal(metadata with { Participants = [] }, readMetadata with { Participants = [] });
        var snapshots = CheckpointLayout.ReadOperatorSnapshots(chk, "op");
        Assert.Equal([1, 2, 3], snapshots[1]);
        Assert.Equal([9], snapshots[0]);
        Assert.Empty(CheckpointLayout.ReadManifests(chk, "other"));
        Assert.Empty(Directory.GetFiles(chk, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void A_manifest_of_another_version_is_refused_naming_the_versions()
    {
        var chk = CheckpointLayout.CheckpointDirectory(Root, 1);
        _temp.Write(Path.Combine("chk-1", "op", "0.manifest.json"),
            """{"version":99,"checkpointId":1,"operator":"op","instanceIndex":0,"keyGroupCount":128,"rangeStart":0,"rangeEnd":128,"keyGroups":[]}""");

        var error = Assert.Throws<InvalidDataException>(() => CheckpointLayout.ReadManifests(chk, "op"));

        Assert.Contains("99", error.Message);
    }

    [Fact]
    public void Garbage_collection_keeps_files_of_a_checkpoint_newer_than_every_retained_one()
    {
        var chk = CheckpointLayout.CheckpointDirectory(Root, 2);
        CheckpointLayout.WriteManifest(chk, new InstanceManifest(CheckpointLayout.ManifestVersion, 2, "op", 0, 128, 0, 128,
            [new KeyGroupFile(1, CheckpointLayout.StateFile("op", 1, 1), 10, 1)]));
        var referenced = Touch(CheckpointLayout.StateFile("op", 1, 1));
        var unreferenced = Touch(CheckpointLayout.StateFile("op", 2, 2));
        var inProgress = Touch(CheckpointLayout.StateFile("op", 3, 3));
        var freshTemp = Touch(CheckpointLayout.StateFile("op", 4, 3) + ".99.abc.tmp");
        var oldTemp = Touch(CheckpointLayout.StateFile("op", 5, 1) + ".99.def.tmp");
        File.SetLastWriteTimeUtc(oldTemp, DateTime.UtcNow.AddMilliseconds(-2.0 * Hosting.HostingLimits.CheckpointTempFileAgeMinMs));

        var result = CheckpointLayout.CollectGarbage(Root, [chk]);

        Assert.True(File.Exists(referenced));
        Assert.False(File.Exists(unreferenced));
        Assert.True(File.Exists(inProgress));
        Assert.True(File.Exists(freshTemp));
        Assert.False(File.Exists(oldTemp));
        Assert.Equal(2, result.FilesDeleted);
        Assert.Equal(2, result.FilesKept);
    }

    [Fact]
    public void Garbage_collection_deletes_nothing_when_a_retained_manifest_cannot_be_read()
    {
        var chk = CheckpointLayout.CheckpointDirectory(Root, 2);
        _temp.Write(Path.Combine("chk-2", "op", "0.manifest.json"), "{ not json");
        var file = Touch(CheckpointLayout.StateFile("op", 2, 1));

        Assert.Throws<InvalidDataException>(() => CheckpointLayout.CollectGarbage(Root, [chk]));

        Assert.True(File.Exists(file));
    }

    private string Touch(string relative) => _temp.Write(relative, "x");

    public void Dispose() => _temp.Dispose();
}
