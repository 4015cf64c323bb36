using System.Diagnostics;
using System.Globalization;
using Xunit;
using Xunit.Abstractions;

namespace SharpOptim.Tests.Fuzz;

/// <summary>
/// Runs the fuzz matrix of <see cref="FuzzRunner"/> (every optimizer in the catalog × parameter kinds × extreme values
/// × paths) in a child process and demands that no case fails. A child that dies without its summary line (a native
/// abort, a crash) is a failure naming the last case it started; the parent then starts a new child after that case,
/// so one abort does not hide the rest.
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    /// <summary>The whole matrix takes about 11 s on one core of the development machine; 240 s leaves room for a
    /// loaded build machine before the child stops starting cases (a stop is a failure: the matrix must run whole).</summary>
    private const double BudgetSeconds = 240;

    [Fact]
    public void EveryOptimizerSurvivesTheFuzzMatrix()
    {
        int expected = FuzzRunner.AllCases().Count;
        var failures = new List<string>();
        int cases = 0, first = 0;
        var watch = Stopwatch.StartNew();
        while (first < expected)
        {
            var (lines, exitCode, stderr) = RunChild(first, BudgetSeconds - watch.Elapsed.TotalSeconds);
            string? lastStarted = null;
            int lastId = first - 1;
            bool summary = false;
            foreach (var line in lines)
            {
                if (line.StartsWith("START ", StringComparison.Ordinal))
                {
                    lastStarted = line[6..];
                    lastId = int.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture);
                }
                else if (line.StartsWith("OK ", StringComparison.Ordinal)) lastStarted = null;
                else if (line.StartsWith("FAIL ", StringComparison.Ordinal))
                {
                    failures.Add(line[5..]);
                    lastStarted = null;
                }
                else if (line.StartsWith("BUDGET ", StringComparison.Ordinal))
                    failures.Add(FormattableString.Invariant($"time budget of {BudgetSeconds} s spent before case {line[7..]} of {expected}"));
                else if (line.StartsWith("SUMMARY ", StringComparison.Ordinal))
                {
                    summary = true;
                    cases += int.Parse(line.Split(' ')[1]["cases=".Length..], CultureInfo.InvariantCulture);
                }
            }
            if (summary) break;
            if (lastId < first)
            {
                failures.Add(FormattableString.Invariant($"the child process died (exit code {exitCode}) before starting a case: {stderr.Split('\n').FirstOrDefault()}"));
                break;
            }
            // The child died: the case it started last killed it.
            cases += lastId - first + 1;
            failures.Add(FormattableString.Invariant($"the child process died (exit code {exitCode}) in case {lastStarted ?? "(none started)"}: {stderr.Split('\n').FirstOrDefault()}"));
            first = lastId + 1;
        }
        output.WriteLine(FormattableString.Invariant($"fuzz: {cases} cases of {expected}, {failures.Count} failures, {watch.Elapsed.TotalSeconds:F1} s"));
        foreach (var f in failures.Take(50)) output.WriteLine(f);
        Assert.True(failures.Count == 0, FormattableString.Invariant($"{failures.Count} of {cases} fuzz cases failed; first: {string.Join(" || ", failures.Take(5))}"));
        Assert.Equal(expected, cases);
    }

    private static (List<string> Lines, int ExitCode, string Stderr) RunChild(int first, double budget)
    {
        string dll = typeof(FuzzProgram).Assembly.Location;
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        foreach (var a in new[] { dll, "fuzz", first.ToString(CultureInfo.InvariantCulture), Math.Max(1, budget).ToString("R", CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var lines = new List<string>();
        while (p.StandardOutput.ReadLine() is { } line) lines.Add(line);
        if (!p.WaitForExit(TimeSpan.FromSeconds(budget + 60)))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        return (lines, p.ExitCode, stderr.Result);
    }
}
