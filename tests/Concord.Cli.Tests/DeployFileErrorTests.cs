using System.Text;

namespace Concord.Cli.Tests;

/// <summary>
/// Deploy-time errors that are right and complete: ranges say "out of range" with the range,
/// every problem is listed at once, built-ins are checked at deploy with the deploy file's field
/// names, and bytes that are not UTF-8 are refused instead of turning into U+FFFD.
/// </summary>
public sealed class DeployFileErrorTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private DeployFileException Fails(string json) =>
        Assert.Throws<DeployFileException>(() => DeployFile.Parse(_dir.Write("op.json", json)));

    [Theory]
    [InlineData("instances", "1e20", "1e20 is out of range; use 1..128")]
    [InlineData("instances", "99999999999", "99999999999 is out of range; use 1..128")]
    [InlineData("mem", "99999999999", "99999999999 is out of range; use 1..1048576")]
    [InlineData("mem", "1e20", "1e20 is out of range; use 1..1048576")]
    [InlineData("mem", "2000000", "2000000 is out of range; use 1..1048576 (megabytes per instance)")]
    [InlineData("instances", "129", "129 is out of range; use 1..128")]
    [InlineData("cpus", "1e400", "1e400 is out of range; use a number of cores greater than 0 and at most 256 (fractions allowed)")]
    public void A_whole_number_too_large_is_out_of_range_with_the_range(string field, string value, string message)
    {
        var error = Fails($$"""{"name": "c", "executable": "x", "{{field}}": {{value}}}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal(field, problem.Field);
        Assert.Equal(message, problem.Message);
    }

    [Fact]
    public void A_reserved_variable_next_to_a_numeric_one_reports_both()
    {
        var error = Fails("""{"name": "c", "executable": "x", "environment": {"CONCORD_HOME": "/tmp", "PORT": 8080}}""");

        Assert.Equal(["environment.PORT", "environment.CONCORD_HOME"], error.Problems.Select(p => p.Field));
        Assert.Contains("reserved", error.Problems[1].Message);
    }

    [Fact]
    public void A_builtin_with_an_executable_also_reports_its_missing_dictionary()
    {
        var error = Fails("""{"name": "gen", "executable": "python3", "builtin": {"kind": "generator"}}""");

        Assert.Equal(["executable", "builtin.options.dictionary"], error.Problems.Select(p => p.Field));
        Assert.Contains("is required for 'generator'", error.Problems[1].Message);
    }

    [Theory]
    [InlineData("""{"kind": "generator", "options": {"dictionary": "words.txt", "rate": "fast"}}""", """["words"]""", "builtin.options.rate", "'fast' is not a number of records per second")]
    [InlineData("""{"kind": "generator", "options": {"dictionary": "words.txt", "rate": -1}}""", """["words"]""", "builtin.options.rate", "≥ 0")]
    [InlineData("""{"kind": "generator", "options": {"dictionary": "words.txt", "count": 2.5}}""", """["words"]""", "builtin.options.count", "'2.5' is not a whole number")]
    [InlineData("""{"kind": "generator", "options": {"dictionary": "missing.txt"}}""", """["words"]""", "builtin.options.dictionary", "does not exist")]
    [InlineData("""{"kind": "generator", "options": {"dictionary": "words.txt", "stream": "lines"}}""", """["words"]""", "outputs", "produces only stream 'lines'")]
    [InlineData("""{"kind": "kafka-source", "options": {"topic": "t", "stream": "w"}}""", """["x"]""", "outputs", "produces only stream 'w'")]
    public void Builtin_options_and_outputs_are_checked_at_deploy_with_the_deploy_file_names(string builtin, string outputs, string field, string message)
    {
        _dir.Write("words.txt", "a\n");

        var error = Fails($$"""{"name": "b", "builtin": {{builtin}}, "outputs": {{outputs}}}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal(field, problem.Field);
        Assert.Contains(message, problem.Message);
        Assert.DoesNotContain("expected_", problem.Message);
    }

    [Fact]
    public void A_sink_with_outputs_is_told_it_produces_none()
    {
        var error = Fails("""{"name": "s", "builtin": {"kind": "csv-sink", "options": {"path": "out.csv"}}, "inputs": ["counts"], "outputs": ["words"]}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("outputs", problem.Field);
        Assert.Contains("'csv-sink' is a sink and produces no streams; remove \"outputs\"", problem.Message);
    }

    [Fact]
    public void A_sink_without_inputs_and_without_a_path_reports_both()
    {
        var error = Fails("""{"name": "s", "builtin": {"kind": "csv-sink"}}""");

        Assert.Equal(["builtin.options.path", "inputs"], error.Problems.Select(p => p.Field));
        Assert.Contains("\"inputs\"", error.Problems[1].Message);
    }

    [Fact]
    public void Invalid_utf8_is_refused_naming_the_encoding_and_the_byte_offset()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"name": "c", "executable": "x", "args": ["caf""")
            .Concat(new byte[] { 0xE9 })
            .Concat(Encoding.UTF8.GetBytes("\"]}"))
            .ToArray();
        var path = Path.Combine(_dir.Path, "latin1.json");
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<DeployFileException>(() => DeployFile.Parse(path));

        var problem = Assert.Single(error.Problems);
        Assert.Equal("encoding", problem.Field);
        Assert.Contains("byte 0xE9 at byte offset 46 (line 1, column 47) is not valid UTF-8", problem.Message);
    }

    [Fact]
    public void Valid_utf8_with_a_byte_order_mark_is_read_as_written()
    {
        var path = Path.Combine(_dir.Path, "bom.json");
        File.WriteAllBytes(path, [.. new byte[] { 0xEF, 0xBB, 0xBF }, .. Encoding.UTF8.GetBytes("""{"name": "c", "executable": "x", "args": ["café"]}""")]);

        Assert.Equal("café", Assert.Single(DeployFile.Parse(path).Args));
    }

    [Fact]
    public void Allow_cycles_is_read_and_must_be_a_boolean()
    {
        Assert.True(DeployFile.Parse(_dir.Write("a.json", """{"name": "c", "executable": "x", "allow_cycles": true}""")).AllowCycles);
        Assert.False(DeployFile.Parse(_dir.Write("b.json", """{"name": "c", "executable": "x"}""")).AllowCycles);

        var problem = Assert.Single(Fails("""{"name": "c", "executable": "x", "allow_cycles": "yes"}""").Problems);
        Assert.Equal("allow_cycles", problem.Field);
        Assert.Contains("expected true or false", problem.Message);
    }
}
