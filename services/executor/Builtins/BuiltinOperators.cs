using Concord.Contracts.Types.V1;
using Concord.Executor.Session;

namespace Concord.Executor.Builtins;

/// <summary>The built-in operators by kind.</summary>
public static class BuiltinOperators
{
    public static readonly IReadOnlyList<string> Kinds = [GeneratorOperator.Kind, CsvSinkOperator.Kind];

    /// <summary>The session of <paramref name="spec"/>'s built-in; a clear error for an unknown kind or option.</summary>
    public static IOperatorSession Create(OperatorSpec spec, string workDir, int instanceIndex, TimeProvider time) => spec.Builtin.Kind switch
    {
        GeneratorOperator.Kind => new GeneratorOperator(spec, workDir, time),
        CsvSinkOperator.Kind => new CsvSinkOperator(spec, workDir, instanceIndex, time),
        _ => throw new OperatorFailedException(
            $"unknown built-in operator kind '{spec.Builtin.Kind}'; the kinds are: {string.Join(", ", Kinds)}"),
    };
}
