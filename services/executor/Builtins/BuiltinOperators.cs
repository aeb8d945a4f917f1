using Concord.Contracts.Types.V1;
using Concord.Executor.Session;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Executor.Builtins;

/// <summary>The built-in operators by kind.</summary>
public static class BuiltinOperators
{
    public static readonly IReadOnlyList<string> Kinds = [GeneratorOperator.Kind, CsvSinkOperator.Kind, KafkaSourceOperator.Kind, KafkaSinkOperator.Kind];

    /// <summary>The session of <paramref name="spec"/>'s built-in; a clear error for an unknown kind or option.</summary>
    public static IOperatorSession Create(OperatorSpec spec, string workDir, int instanceIndex, TimeProvider time, ILoggerFactory? loggerFactory = null) => spec.Builtin.Kind switch
    {
        GeneratorOperator.Kind => new GeneratorOperator(spec, workDir, time),
        CsvSinkOperator.Kind => new CsvSinkOperator(spec, workDir, instanceIndex, time),
        KafkaSourceOperator.Kind => new KafkaSourceOperator(spec, workDir, instanceIndex, time, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<KafkaSourceOperator>()),
        KafkaSinkOperator.Kind => new KafkaSinkOperator(spec, workDir, time, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<KafkaSinkOperator>()),
        _ => throw new OperatorFailedException(
            $"unknown built-in operator kind '{spec.Builtin.Kind}'; the kinds are: {string.Join(", ", Kinds)}"),
    };
}
