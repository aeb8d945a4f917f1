using Concord.Contracts.Types.V1;
using Concord.Executor.Metrics;
using Concord.Executor.Session;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Executor.Builtins;

/// <summary>The built-in operators by kind.</summary>
public static class BuiltinOperators
{
    public static readonly IReadOnlyList<string> Kinds = [GeneratorOperator.Kind, CsvSinkOperator.Kind, KafkaSourceOperator.Kind, KafkaSinkOperator.Kind, FileSourceOperator.Kind];

    /// <summary>The session of <paramref name="spec"/>'s built-in; a clear error for an unknown kind or option.</summary>
    /// <param name="metrics">The executor's metrics; Kafka built-ins add theirs to its registry.</param>
    /// <param name="concordHome">$CONCORD_HOME (<see cref="ExecutorOptions.ConcordHome"/>), where Kafka built-ins look for a development Kafka.</param>
    public static IOperatorSession Create(OperatorSpec spec, string workDir, int instanceIndex, TimeProvider time, ExecutorMetrics metrics,
        ILoggerFactory? loggerFactory = null, string? concordHome = null) => spec.Builtin.Kind switch
        {
            GeneratorOperator.Kind => new GeneratorOperator(spec, workDir, time, instanceIndex: instanceIndex),
            FileSourceOperator.Kind => new FileSourceOperator(spec, workDir, time, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<FileSourceOperator>(), instanceIndex: instanceIndex),
            CsvSinkOperator.Kind => new CsvSinkOperator(spec, workDir, instanceIndex, time),
            KafkaSourceOperator.Kind => new KafkaSourceOperator(spec, workDir, instanceIndex, time, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<KafkaSourceOperator>(), new KafkaMetrics(metrics), concordHome),
            KafkaSinkOperator.Kind => new KafkaSinkOperator(spec, workDir, time, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<KafkaSinkOperator>(), new KafkaMetrics(metrics), concordHome, instanceIndex),
            _ => throw new OperatorFailedException(
                $"unknown built-in operator kind '{spec.Builtin.Kind}'; the kinds are: {string.Join(", ", Kinds)}"),
        };
}
