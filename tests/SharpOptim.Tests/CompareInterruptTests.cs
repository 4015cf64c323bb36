using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using SharpOptim.Cli;
using SharpOptim.Cli.Commands;
using SharpOptim.Cli.Compare;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>
/// Real SIGINTs sent to a child <c>sharpoptim compare</c> (issue 18, item 6): a Ctrl-C while the files are written, and
/// a second Ctrl-C, must not end the process by the signal. The files are finished and consistent (every file, no
/// staging folder, no .partial), the command says what happened and exits with 130.
/// </summary>
public sealed class CompareInterruptTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpoptim-interrupt-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A child compare whose stdout lines are queued as they come; the writing phase pauses
    /// <paramref name="writeDelayMs"/> before each file (the test-only hook) so that a signal lands inside it.</summary>
    private sealed class Child : IDisposable
    {
        public readonly Process Process;
        public readonly BlockingCollection<string> Lines = new();
        private readonly StringBuilder _out = new(), _err = new();

        public Child(string outDir, int steps, int writeDelayMs)
        {
            var args = new[] { "compare", "--optimizers", "adamw", "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--seeds", "1", "--no-progress", "--out", outDir };
            var env = new Dictionary<string, string?> { [CompareCommand.TestWriteDelayVariable] = writeDelayMs.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            Process = Process.Start(CliProcess.StartInfo(args, env))!;
            Process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (_out) _out.AppendLine(e.Data);
                Lines.Add(e.Data);
            };
            Process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null) lock (_err) _err.AppendLine(e.Data);
            };
            Process.BeginOutputReadLine();
            Process.BeginErrorReadLine();
        }

        public string Out { get { lock (_out) return _out.ToString(); } }
        public string Err { get { lock (_err) return _err.ToString(); } }

        public void WaitForLine(string prefix)
        {
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (DateTime.UtcNow < deadline)
                if (Lines.TryTake(out var line, TimeSpan.FromSeconds(1)) && line.StartsWith(prefix, StringComparison.Ordinal)) return;
            throw new TimeoutException($"no line starting '{prefix}'; stdout:\n{Out}\nstderr:\n{Err}");
        }

        public int WaitForExit()
        {
            Assert.True(Process.WaitForExit(TimeSpan.FromSeconds(120)), "the child did not exit: " + Out);
            Process.WaitForExit();   // the redirected streams are drained too
            return Process.ExitCode;
        }

        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill(entireProcessTree: true);
            Process.Dispose();
        }
    }

    private static void AssertConsistentSet(string outDir, bool complete)
    {
        foreach (var f in ComparisonReport.Files)
            Assert.True(File.Exists(Path.Combine(outDir, f)), "missing " + f + " in " + string.Join(", ", Directory.GetFileSystemEntries(outDir).Select(Path.GetFileName)));
        // Nothing else: no staging folder, no .partial file.
        Assert.Equal(ComparisonReport.Files.Order(), Directory.GetFileSystemEntries(outDir).Select(p => Path.GetFileName(p)!).Order());
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
        Assert.Equal(complete, doc.RootElement.GetProperty("complete").GetBoolean());
        // report.md describes the same comparison as results.json.
        Assert.Contains(doc.RootElement.GetProperty("command").GetString()!, File.ReadAllText(Path.Combine(outDir, "report.md")));
        Assert.Equal(complete, !File.ReadAllText(Path.Combine(outDir, "report.md")).Contains("Incomplete", StringComparison.Ordinal));
    }

    [Fact]
    public void CtrlCTwiceWhileTheFilesAreWrittenFinishesThemAndExits130WithAMessage()
    {
        if (OperatingSystem.IsWindows()) return;   // SIGINT: POSIX
        string outDir = Path.Combine(_dir, "writing");
        using var child = new Child(outDir, steps: 20, writeDelayMs: 400);
        child.WaitForLine("writing the files to");
        Thread.Sleep(200);                          // inside the writing phase: before the first or second file
        Assert.True(CliProcess.Interrupt(child.Process));
        Thread.Sleep(900);                          // a second Ctrl-C, a couple of files later
        Assert.True(CliProcess.Interrupt(child.Process));
        int code = child.WaitForExit();
        Assert.True(code == CompareCommand.InterruptedExitCode, $"exit {code}\n{child.Out}\n{child.Err}");
        // Ended by its own return, not by the signal (which also reads as 130): it said so, after writing everything.
        Assert.Contains("wrote results.json", child.Out);
        Assert.Contains("interrupted while writing the files: they were finished first and are complete.", child.Out);
        Assert.Equal(2, child.Err.Split('\n').Count(l => l.Contains("Ctrl-C while writing the files", StringComparison.Ordinal)));
        AssertConsistentSet(outDir, complete: true);
    }

    [Fact]
    public void CtrlCTwiceDuringTrainingWritesTheFinishedPartMarkedIncompleteAndExits130()
    {
        if (OperatingSystem.IsWindows()) return;
        string outDir = Path.Combine(_dir, "training");
        // Far more steps than the test waits for: the signals land while training.
        using var child = new Child(outDir, steps: 2_000_000, writeDelayMs: 200);
        child.WaitForLine("compare digits");
        Thread.Sleep(500);
        Assert.True(CliProcess.Interrupt(child.Process));
        Thread.Sleep(50);
        Assert.True(CliProcess.Interrupt(child.Process));
        int code = child.WaitForExit();
        Assert.True(code == CompareCommand.InterruptedExitCode, $"exit {code}\n{child.Out}\n{child.Err}");
        Assert.Contains("wrote results.json", child.Out);
        Assert.Contains("interrupted", child.Out);
        // The second Ctrl-C was reported (whether it came before or during the writing), not obeyed by dying.
        Assert.True(child.Err.Contains("already stopping", StringComparison.Ordinal) || child.Err.Contains("Ctrl-C while writing", StringComparison.Ordinal), child.Err);
        AssertConsistentSet(outDir, complete: false);
    }

    [Fact]
    public void AWriteAbandonedByAKilledProcessIsCleanedUpAndTheOldSetReplacedWhole()
    {
        if (OperatingSystem.IsWindows()) return;   // `true` as a process that has exited
        string outDir = Path.Combine(_dir, "abandoned");
        Directory.CreateDirectory(outDir);
        // What a SIGKILL during writing leaves: a staging folder of a process that no longer exists.
        using (var gone = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!)
        {
            gone.WaitForExit();
            string stale = Path.Combine(outDir, ComparisonReport.StagingPrefix + gone.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Directory.CreateDirectory(stale);
            File.WriteAllText(Path.Combine(stale, "results.json"), "{");
        }
        var (code, output, err) = CliTests.Run("compare", "--optimizers", "sgd", "--steps", "5", "--seeds", "1", "--out", outDir, "--no-progress", "--force");
        Assert.True(code == 0, err + output);
        AssertConsistentSet(outDir, complete: true);
    }
}
