namespace LearningCurves.Formats;

/// <summary>
/// A problem with the user's input (a file, a flag, a value), not a bug. The runner prints its message as one line
/// and exits with <see cref="ExitCode"/>; no stack trace. Messages name the file and the problem.
/// </summary>
public class UserError : Exception
{
    public UserError(string message, int exitCode = 2) : base(message) => ExitCode = exitCode;

    public UserError(string message, Exception inner, int exitCode = 2) : base(message, inner) => ExitCode = exitCode;

    public int ExitCode { get; }

    /// <summary>An error about one file: "path: problem".</summary>
    public static UserError InFile(string path, string problem) => new($"{path}: {problem}");
}
