namespace Concord.Conformance.Tests.Harness;

/// <summary>
/// The test operator of every language (tests/operators). Adding a language means writing one
/// small test operator and adding one line here and one to <see cref="All"/>.
/// </summary>
public static class Languages
{
    /// <summary>The languages every case runs against: the rows of the conformance table.</summary>
    public static TheoryData<string> All => new() { "dotnet", "python", "go", "ruby", "node", "java" };

    /// <summary>The program the executor starts for <paramref name="language"/>'s test operator.</summary>
    public static string TestOperator(string language) => language switch
    {
        "dotnet" => Repo.Require(Path.Combine(Repo.Root, "artifacts", "bin", "Concord.TestOperator", Repo.Configuration, "Concord.TestOperator"),
            "build tests/operators/dotnet/Concord.TestOperator (it is built with this suite)"),
        "python" => Repo.Require(Path.Combine(Repo.Root, "tests", "operators", "python", "run-test-operator.sh"),
            "restore tests/operators/python from git"),
        "go" => Repo.Require(Path.Combine(Repo.Root, "artifacts", "go", "bin", "concord-test-operator"),
            "run scripts/build-test-operators.sh"),
        "ruby" => Repo.Require(Path.Combine(Repo.Root, "tests", "operators", "ruby", "run-test-operator.sh"),
            "restore tests/operators/ruby from git"),
        "node" => Repo.Require(Path.Combine(Repo.Root, "tests", "operators", "node", "run-test-operator.sh"),
            "restore tests/operators/node from git and run scripts/install-node.sh (its npm packages)"),
        "java" => Repo.Require(Path.Combine(Repo.Root, "artifacts", "java", "bin", "concord-test-operator"),
            "run scripts/build-java.sh (after scripts/install-java.sh)"),
        _ => throw new ArgumentOutOfRangeException(nameof(language), language, "no test operator for this language; add one to Languages.TestOperator"),
    };
}
