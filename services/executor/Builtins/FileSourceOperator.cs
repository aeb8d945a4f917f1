using System.Runtime.InteropServices;
using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins.Internal;
using Concord.Executor.Checkpoints;
using Concord.Executor.Records;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Executor.Builtins;

/// <summary>
/// Built-in source: the lines of a file, or of every regular file of a directory (sorted by
/// name, ordinal; subdirectories ignored), one record per non-empty line on one stream, then
/// idle. Driven by its own timer like the generator, so backpressure holds it. Options: path
/// (required), stream (default "lines"), format ("lines", default, or "csv"), key_column (with
/// csv: the 0-based column that is the key; the value stays the whole line), rate records/s
/// (0 = as fast as credit allows), stats (a JSON file {"produced":N,"dropped":D,"finished":B,
/// "updated_unix_ms":T}). A line longer than <see cref="ExecutorLimits.FileSourceLineBytesMax"/>
/// is dropped and counted, never cut: half a line would be a wrong record. When every file is
/// read it logs once and sets no more timers: the instance stays up (a finished source is not a
/// failed one).
/// <para>
/// Replayable (docs/guarantees.md, "Sources and sinks"): every instance reads every file, and its
/// checkpoint snapshot is its position, the file being read and the byte offset just past the
/// last line emitted. A restore continues instance i from old instance i's position (an index
/// with none starts at the beginning); a position in a file that is gone continues at the first
/// file whose name sorts after it.
/// </para>
/// </summary>
public sealed class FileSourceOperator : BuiltinSession, ICheckpointedOperator
{
    private const byte SnapshotVersion = 1;

    public const string Kind = "file-source";
    private const string TimerKey = "read";

    private readonly string _stream;
    private readonly RateBudget _rate;
    private readonly int? _keyColumn;
    private readonly int _recordsPerAnswerMax;
    private readonly ILogger _logger;
    private readonly string[] _files;
    private readonly string? _statsPath;
    private readonly int _instanceIndex;
    private int _nextFile;
    private LineReader? _reader;
    private long _produced;
    private long _dropped;
    private bool _finished;
    private long _lastStatsMs;

    /// <param name="instanceIndex">Whose position a restore takes (every instance reads every file).</param>
    public FileSourceOperator(OperatorSpec spec, string workDir, TimeProvider time, ILogger? logger = null, int recordsPerAnswerMax = ExecutorLimits.BatchRowsMax, int instanceIndex = 0)
        : base(spec, time)
    {
        _instanceIndex = instanceIndex;
        var options = new BuiltinOptions(spec.Builtin);
        _stream = options.String("stream") ?? Concord.Contracts.OperatorSpecValidator.FileSourceStreamDefault;
        _rate = new RateBudget(options.Double("rate", 0, 0));
        _recordsPerAnswerMax = recordsPerAnswerMax;
        _logger = logger ?? NullLogger.Instance;
        var format = options.String("format") ?? "lines";
        if (format is not ("lines" or "csv"))
        {
            throw new OperatorFailedException($"file-source option 'format'='{format}' is not known; use \"lines\" or \"csv\"");
        }
        if (options.String("key_column") is not null)
        {
            if (format != "csv")
            {
                throw new OperatorFailedException("file-source option 'key_column' needs \"format\": \"csv\"; add it, or remove key_column to key records by the whole line");
            }
            _keyColumn = (int)Math.Min(options.Long("key_column", 0, 0), int.MaxValue);
        }
        var path = BuiltinOptions.ResolvePath(spec, "path", options.Required("path",
            "the file or directory to read, e.g. \"path\": \"words.txt\""), workDir);
        _files = ListFiles(spec, path, workDir);
        _statsPath = options.String("stats") is { } stats ? BuiltinOptions.ResolvePath(spec, "stats", stats, workDir) : null;
    }

    /// <summary>Records produced so far.</summary>
    public long Produced => Interlocked.Read(ref _produced);

    /// <summary>Lines dropped so far for being longer than <see cref="ExecutorLimits.FileSourceLineBytesMax"/>.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Whether every file has been read.</summary>
    public bool Finished => Volatile.Read(ref _finished);

    protected override OperatorMetadata Describe() => new() { Name = Spec.Name, Outputs = { _stream } };

    protected override void OnInit(AnswerWriter done)
    {
        var nowMs = Now().EventTimeMs;
        _rate.Start(nowMs);
        done.TimersSet.Add(new TimerSet { Key = TimerKey, TimeUnixMs = nowMs });
    }

    protected override void OnBatch(RawBatch batch, AnswerWriter done)
    {
        var fired = false;
        foreach (var timer in batch.TimersFired)
        {
            fired |= timer.Key == TimerKey;
        }
        if (!fired || _finished)
        {
            return;
        }
        var (nowMs, nowUs) = Now();
        var n = _rate.Allow(nowMs, _recordsPerAnswerMax);
        long produced = 0;
        long bytes = 0;
        while (produced < n && bytes < ExecutorLimits.BatchBytesMax)
        {
            if (NextLine() is not { } line)
            {
                break;
            }
            var key = _keyColumn is { } column ? CsvColumn(line.Span, column) : line.Span;
            done.Produce(0, key, line.Span, nowMs, nowUs); // its one output stream
            produced++;
            bytes += key.Length + line.Length;
        }
        _rate.Spend(produced);
        Interlocked.Add(ref _produced, produced);
        if (_nextFile >= _files.Length && _reader is null)
        {
            Volatile.Write(ref _finished, true);
            _logger.LogInformation("file-source '{Name}' finished: {Produced} records from {Files} files ({Dropped} lines over {LineBytesMax} bytes dropped); it stays idle",
                Spec.Name, Produced, _files.Length, Dropped, ExecutorLimits.FileSourceLineBytesMax);
            if (_statsPath is not null)
            {
                WriteStats(nowMs);
            }
            return; // done: no more timers
        }
        if (_statsPath is not null && nowMs - _lastStatsMs >= ExecutorLimits.CsvSinkStatsIntervalMs)
        {
            WriteStats(nowMs);
        }
        done.TimersSet.Add(new TimerSet { Key = TimerKey, TimeUnixMs = _rate.NextTurnMs(nowMs) });
    }

    protected override void OnShutdown()
    {
        _reader?.Dispose();
        _reader = null;
        if (_statsPath is not null)
        {
            WriteStats(Now().EventTimeMs);
        }
    }

    /// <summary>The position: the file being read (or next to read; null when all are read) and the byte offset in it past the last line emitted.</summary>
    public (string? File, long Offset) Position => _reader is not null
        ? (_files[_nextFile - 1], _reader.Position)
        : (_nextFile < _files.Length ? _files[_nextFile] : null, 0);

    public byte[] SnapshotOperator(ulong checkpointId)
    {
        var (file, offset) = Position;
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer))
        {
            writer.Write(SnapshotVersion);
            writer.Write(Kind);
            writer.Write(file is null ? "" : System.IO.Path.GetFileName(file));
            writer.Write(offset);
            writer.Write(Produced);
            writer.Write(Dropped);
        }
        return buffer.ToArray();
    }

    public void RestoreOperator(ulong checkpointId, IReadOnlyDictionary<int, byte[]> snapshots)
    {
        if (!snapshots.TryGetValue(_instanceIndex, out var snapshot))
        {
            return; // a new index: it reads every file from the start, as every instance does
        }
        string name;
        long offset;
        try
        {
            using var reader = new BinaryReader(new MemoryStream(snapshot));
            if (reader.ReadByte() != SnapshotVersion || reader.ReadString() != Kind)
            {
                throw new OperatorFailedException(
                    $"file-source: the checkpoint's operator snapshot for instance {_instanceIndex} is not a version {SnapshotVersion} file-source snapshot; restore a checkpoint taken by this operator, or deploy it without one");
            }
            name = reader.ReadString();
            offset = reader.ReadInt64();
            Interlocked.Exchange(ref _produced, reader.ReadInt64());
            Interlocked.Exchange(ref _dropped, reader.ReadInt64());
        }
        catch (EndOfStreamException)
        {
            throw new OperatorFailedException($"file-source: the checkpoint's operator snapshot for instance {_instanceIndex} is truncated; the checkpoint is damaged, restore an earlier one");
        }
        _reader?.Dispose();
        _reader = null;
        if (name.Length == 0)
        {
            _nextFile = _files.Length; // everything was read
            return;
        }
        var index = Array.FindIndex(_files, f => System.IO.Path.GetFileName(f) == name);
        if (index < 0)
        {
            // The file is gone: the files sorted before it were read, so go on with the next name.
            _nextFile = Array.FindIndex(_files, f => string.CompareOrdinal(System.IO.Path.GetFileName(f), name) > 0) is var next and >= 0 ? next : _files.Length;
            _logger.LogWarning("file-source '{Name}': the checkpoint's position is in '{File}', which is no longer there; continuing with the next file", Spec.Name, name);
            return;
        }
        _nextFile = index + 1;
        try
        {
            _reader = new LineReader(Open(_files[index]), ExecutorLimits.FileSourceLineBytesMax, offset);
        }
        catch (IOException e)
        {
            throw new OperatorFailedException($"file-source cannot seek '{_files[index]}' to the checkpoint's offset {offset} ({e.Message}); check the file");
        }
    }

    public void CheckpointCompleted(ulong checkpointId)
    {
        // Nothing to commit: the position is the whole state.
    }

    public void CheckpointAborted(ulong checkpointId)
    {
    }

    /// <summary>The next non-empty line that fits, opening the next file as one ends; null when all are read.</summary>
    private ReadOnlyMemory<byte>? NextLine()
    {
        while (true)
        {
            if (_reader is null)
            {
                if (_nextFile >= _files.Length)
                {
                    return null;
                }
                _reader = new LineReader(Open(_files[_nextFile++]), ExecutorLimits.FileSourceLineBytesMax);
            }
            ReadOnlyMemory<byte>? line;
            try
            {
                line = _reader.Next(out var tooLong);
                if (tooLong)
                {
                    if (Interlocked.Increment(ref _dropped) == 1)
                    {
                        _logger.LogWarning("file-source '{Name}': a line of '{File}' is longer than {LineBytesMax} bytes (ExecutorLimits.FileSourceLineBytesMax) and was dropped; later ones are only counted",
                            Spec.Name, _files[_nextFile - 1], ExecutorLimits.FileSourceLineBytesMax);
                    }
                    continue;
                }
            }
            catch (IOException e)
            {
                throw new OperatorFailedException($"file-source cannot read '{_files[_nextFile - 1]}' ({e.Message}); check the file and its permissions");
            }
            if (line is null)
            {
                _reader.Dispose();
                _reader = null;
                continue;
            }
            if (line.Value.Length > 0)
            {
                return line;
            }
        }
    }

    /// <summary>Column <paramref name="column"/> of a CSV line (fields in double quotes may hold commas; "" is a quote); empty when the line has fewer.</summary>
    internal static ReadOnlySpan<byte> CsvColumn(ReadOnlySpan<byte> line, int column)
    {
        var start = 0;
        for (var index = 0; ; index++)
        {
            var quoted = start < line.Length && line[start] == (byte)'"';
            int end;
            if (quoted)
            {
                end = start + 1;
                while (end < line.Length && !(line[end] == (byte)'"' && (end + 1 >= line.Length || line[end + 1] != (byte)'"')))
                {
                    end += line[end] == (byte)'"' ? 2 : 1;
                }
                end = Math.Min(end + 1, line.Length);
                var comma = line[end..].IndexOf((byte)',');
                end = comma < 0 ? line.Length : end + comma;
            }
            else
            {
                var comma = line[start..].IndexOf((byte)',');
                end = comma < 0 ? line.Length : start + comma;
            }
            if (index == column)
            {
                var field = line[start..end];
                // The key is the field's text: quotes removed (a doubled quote inside stays doubled: rare, and still one key per text).
                return quoted && field.Length >= 2 && field[^1] == (byte)'"' ? field[1..^1] : field;
            }
            if (end >= line.Length)
            {
                return [];
            }
            start = end + 1;
        }
    }

    private void WriteStats(long nowMs)
    {
        try
        {
            var temp = _statsPath + ".tmp";
            File.WriteAllText(temp, $"{{\"produced\":{Produced},\"dropped\":{Dropped},\"finished\":{(Finished ? "true" : "false")},\"updated_unix_ms\":{nowMs}}}");
            File.Move(temp, _statsPath!, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OperatorFailedException($"file-source cannot write its stats file '{_statsPath}' ({e.Message}); fix option 'stats' or the directory's permissions");
        }
        _lastStatsMs = nowMs;
    }

    /// <summary>The files to read: the path itself, or the regular files of a directory sorted by name, each checked (type, confinement).</summary>
    private static string[] ListFiles(OperatorSpec spec, string path, string workDir)
    {
        if (Directory.Exists(path))
        {
            var names = Directory.GetFiles(path);
            Array.Sort(names, StringComparer.Ordinal);
            if (names.Length > ExecutorLimits.FileSourceFilesMax)
            {
                throw new OperatorFailedException($"file-source directory '{path}' has {names.Length} files, more than {ExecutorLimits.FileSourceFilesMax} (ExecutorLimits.FileSourceFilesMax); split it or merge files");
            }
            foreach (var name in names)
            {
                // A link inside the directory must not lead out of the allowed directories.
                BuiltinOptions.ResolvePath(spec, "path", name, workDir);
                CheckRegular(name);
            }
            return names;
        }
        if (!File.Exists(path))
        {
            throw new OperatorFailedException($"file-source path '{path}' does not exist; give an existing file or directory as option 'path'");
        }
        CheckRegular(path);
        return [path];
    }

    /// <summary>
    /// Refuses anything but a regular file before it is opened: a FIFO would block the open (and
    /// the executor with it), a device such as /dev/zero never ends.
    /// </summary>
    private static void CheckRegular(string path)
    {
        var buffer = new byte[StatxBufferBytes];
        if (Statx(AtFdCwd, path, 0, StatxType, buffer) != 0)
        {
            throw new OperatorFailedException($"file-source cannot examine '{path}' (errno {Marshal.GetLastPInvokeError()}); check that it exists and is readable");
        }
        var type = BitConverter.ToUInt16(buffer, StatxModeOffset) & SIfMt;
        if (type != SIfReg)
        {
            throw new OperatorFailedException($"file-source path '{path}' is not a regular file (a FIFO, device or socket); give a regular file or a directory of them");
        }
    }

    private static FileStream Open(string path)
    {
        try
        {
            CheckRegular(path); // again: it could have been swapped since the start
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, ExecutorLimits.FileSourceReadBufferBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OperatorFailedException($"file-source cannot open '{path}' ({e.Message}); check the file and its permissions");
        }
    }

    // statx(2): the file type without opening the file. Layout from linux/stat.h (stable ABI).
    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1;
    private const int StatxBufferBytes = 256;
    private const int StatxModeOffset = 28;
    private const int SIfMt = 0xF000;
    private const int SIfReg = 0x8000;

    // DllImport rather than LibraryImport: the executor is not compiled with unsafe code, which the generator needs.
    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);
}

/// <summary>
/// Lines of a stream (split on '\n', a trailing '\r' removed) with a bounded line buffer: a
/// line longer than the bound is skipped to its end and reported, so memory stays bounded
/// whatever the file holds.
/// </summary>
internal sealed class LineReader : IDisposable
{
    private readonly Stream stream;
    private readonly int lineBytesMax;
    // One byte over the bound for a '\r' before the '\n', which is not part of the line.
    private readonly byte[] _line;
    private readonly byte[] _buffer = new byte[ExecutorLimits.FileSourceReadBufferBytes];
    private int _start;
    private int _end;
    private bool _eof;
    // Bytes read from the stream so far, counted from its start.
    private long _read;

    /// <param name="offset">Where to start: a position from <see cref="Position"/> (a line start).</param>
    public LineReader(Stream stream, int lineBytesMax, long offset = 0)
    {
        this.stream = stream;
        this.lineBytesMax = lineBytesMax;
        _line = new byte[lineBytesMax + 1];
        if (offset > 0)
        {
            stream.Seek(offset, SeekOrigin.Begin);
            _read = offset;
        }
    }

    /// <summary>The byte offset in the stream just past the last line returned (or skipped).</summary>
    public long Position => _read - (_end - _start);

    /// <summary>The next line (valid until the next call), or null at the end; <paramref name="tooLong"/> when a line was skipped.</summary>
    public ReadOnlyMemory<byte>? Next(out bool tooLong)
    {
        tooLong = false;
        var length = 0;
        var any = false;
        while (true)
        {
            if (_start == _end)
            {
                if (_eof || (_end = stream.Read(_buffer, 0, _buffer.Length)) == 0)
                {
                    _end = 0;
                    _eof = true;
                    _start = _end = 0;
                    return any ? Finish(length, ref tooLong) : null;
                }
                _read += _end;
                _start = 0;
            }
            any = true;
            var chunk = _buffer.AsSpan(_start, _end - _start);
            var newline = chunk.IndexOf((byte)'\n');
            var part = newline < 0 ? chunk : chunk[..newline];
            if (!tooLong)
            {
                if (length + part.Length > _line.Length)
                {
                    tooLong = true;
                }
                else
                {
                    part.CopyTo(_line.AsSpan(length));
                    length += part.Length;
                }
            }
            _start += newline < 0 ? chunk.Length : newline + 1;
            if (newline >= 0)
            {
                return Finish(length, ref tooLong);
            }
        }
    }

    private ReadOnlyMemory<byte>? Finish(int length, ref bool tooLong)
    {
        if (tooLong)
        {
            return ReadOnlyMemory<byte>.Empty;
        }
        if (length > 0 && _line[length - 1] == (byte)'\r')
        {
            length--;
        }
        tooLong = length > lineBytesMax;
        return tooLong ? ReadOnlyMemory<byte>.Empty : _line.AsMemory(0, length);
    }

    public void Dispose() => stream.Dispose();
}
