using Spectre.Console;

namespace Concord.Cli.Internal;

/// <summary>
/// What a command needs from the world, injectable so tests run the CLI in-process: output
/// writers, environment variables, whether a person is watching, and the clock.
/// </summary>
internal sealed class CliContext
{
    public CliContext(TextWriter output, TextWriter error, Func<string, string?> environment, bool interactive, TimeProvider time)
    {
        Out = output;
        Err = error;
        Environment = environment;
        Interactive = interactive;
        Time = time;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
        });
        if (!interactive)
        {
            Console.Profile.Width = CliLimits.RedirectedWidthColumns;
        }
    }

    public TextWriter Out { get; }

    public TextWriter Err { get; }

    /// <summary>Reads an environment variable; null when unset.</summary>
    public Func<string, string?> Environment { get; }

    /// <summary>True when stdout is a terminal: spinners and colours; false: plain lines.</summary>
    public bool Interactive { get; }

    public TimeProvider Time { get; }

    /// <summary>Spectre console writing to <see cref="Out"/>.</summary>
    public IAnsiConsole Console { get; }
}
