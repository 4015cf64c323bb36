using System.Text.Json;
using SharpOptim.Cli;
using SharpOptim.Cli.Commands;
using SharpOptim.Cli.Compare;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>
/// <c>sharpoptim compare</c>: argument errors (exit 2, message naming what is valid, nothing trained or written),
/// a short end-to-end run and its files, schedule refinement from a previous run, and interruption.
/// </summary>
[Collection("kernel-threads")]
public class CompareCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpoptim-compare-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliTests.Run(args);

    [Theory]
    [InlineData("--task,digitz", "unknown task 'digitz'", "charlm")]
    [InlineData("--optimizers,adamw,lionn", "unknown optimizer 'lionn'", "sophia")]
    [InlineData("--optimizers,adamw,adamw", "names an optimizer twice", "adamw")]
    [InlineData("--optimizers,lion,--opt,lion:momentum=0.9", "Unknown hyperparameter 'momentum'", "beta1")]
    [InlineData("--optimizers,lion,--opt,lion:lr=-1", "lr", "-1")]
    [InlineData("--optimizers,adamw,--opt,adamw:beta2=1.5", "beta2", "1.5")]
    [InlineData("--optimizers,adamw,--opt,lion:lr=1e-3", "'lion' is not among the compared optimizers", "adamw")]
    [InlineData("--optimizers,adamw,--opt,adamw:lr=fast", "lr=fast is neither a number nor true/false", "adamw")]
    [InlineData("--schedule,cosinus", "unknown schedule 'cosinus'", "warmup-cosine")]
    [InlineData("--schedule,wsd:shape=square", "shape=square", "1-sqrt")]
    [InlineData("--schedule,warmup-cosine:warmup=600", "warmup=600", "500")]
    [InlineData("--schedule,cosine:flor=0.1", "unknown key 'flor'", "floor")]
    [InlineData("--steps,0", "--steps", "0")]
    [InlineData("--seeds,two", "--seeds", "two")]
    [InlineData("--colour", "unknown option '--colour'", "--schedule")]
    public void BadArgumentsExitWithTwoAndNameTheProblem(string csv, string expected, string alsoExpected)
    {
        string outDir = Path.Combine(_dir, "never");
        var args = new[] { "compare", "--out", outDir, "--no-progress" }.Concat(csv.Split(',')).ToArray();
        // "--optimizers,adamw,lionn" is one option with a comma-separated value: rejoin it.
        args = Rejoin(args);
        var (code, output, err) = Run(args);
        Assert.Equal(2, code);
        Assert.Contains(expected, err);
        Assert.Contains(alsoExpected, err);
        Assert.DoesNotContain("seed 0", output);
        Assert.False(Directory.Exists(outDir), "nothing may be written before the arguments are valid");
    }

    private static string[] Rejoin(string[] args)
    {
        var r = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--optimizers")
            {
                var parts = new List<string>();
                while (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) parts.Add(args[++i]);
                r.Add("--optimizers");
                r.Add(string.Join(',', parts));
            }
            else r.Add(args[i]);
        }
        return r.ToArray();
    }

    [Fact]
    public void UnwritableOutputDirectoryFailsBeforeTraining()
    {
        string file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "x");
        var (code, output, err) = Run("compare", "--optimizers", "sgd", "--steps", "5", "--seeds", "1", "--no-progress", "--out", Path.Combine(file, "sub"));
        Assert.Equal(2, code);
        Assert.Contains("cannot write to the output directory", err);
        Assert.Contains("a-file", err);
        Assert.DoesNotContain("seed 0", output);
    }

    [Fact]
    public void RunningTheDefaultCommandAgainWritesANewFolder()
    {
        string cwd = Directory.GetCurrentDirectory();
        string dir = Path.Combine(_dir, "default-out");
        Directory.CreateDirectory(dir);
        try
        {
            // The suite runs serially (AssemblyInfo), so the working directory is this test's while it runs.
            Directory.SetCurrentDirectory(dir);
            var args = new[] { "compare", "--optimizers", "sgd", "--steps", "5", "--seeds", "1", "--no-progress" };
            Assert.Equal(0, Run(args).Code);
            string first = File.ReadAllText(Path.Combine(dir, "compare-results", "digits", "results.json"));
            var (code, output, _) = Run(args);
            Assert.Equal(0, code);
            Assert.Contains(Path.Combine("compare-results", "digits-2"), output);
            Assert.True(File.Exists(Path.Combine(dir, "compare-results", "digits-2", "results.json")));
            Assert.Equal(first, File.ReadAllText(Path.Combine(dir, "compare-results", "digits", "results.json")));
            Assert.Equal(0, Run(args).Code);
            Assert.True(File.Exists(Path.Combine(dir, "compare-results", "digits-3", "report.md")));
        }
        finally
        {
            Directory.SetCurrentDirectory(cwd);
        }
    }

    [Fact]
    public void EarlierResultsAreNotReplacedWithoutForce()
    {
        string outDir = Path.Combine(_dir, "keep");
        var args = new[] { "compare", "--optimizers", "sgd", "--steps", "5", "--seeds", "1", "--out", outDir, "--no-progress" };
        Assert.Equal(0, Run(args).Code);
        string before = File.ReadAllText(Path.Combine(outDir, "results.json"));
        var (code, output, err) = Run(args);
        Assert.Equal(2, code);
        Assert.Contains("already holds results.json", err);
        Assert.Contains("--force", err);
        Assert.DoesNotContain("seed 0", output);
        Assert.Equal(before, File.ReadAllText(Path.Combine(outDir, "results.json")));
        Assert.Equal(0, Run(args.Append("--force").ToArray()).Code);
        var (c3, _, e3) = Run("compare", "--optimizers", "sgd", "--steps", "5", "--seeds", "1", "--schedule", "refined:from=" + outDir,
            "--out", outDir, "--force", "--no-progress");
        Assert.Equal(2, c3);
        Assert.Contains("choose another --out", e3);
    }

    [Fact]
    public void MissingMnistSaysHowToFetchIt()
    {
        string cache = Path.Combine(_dir, "empty-cache");
        var (code, _, err) = Run("compare", "--task", "mnist10k", "--cache", cache, "--out", Path.Combine(_dir, "o"), "--no-progress");
        Assert.Equal(2, code);
        Assert.Contains("sharpoptim data fetch mnist10k --cache " + cache, err);
        var (code2, _, err2) = Run("data", "fetch", "cifar10");
        Assert.Equal(2, code2);
        Assert.Contains("mnist10k", err2);
    }

    [Fact]
    public void EndToEndRunWritesTableResultsPlotsAndReport()
    {
        string outDir = Path.Combine(_dir, "run");
        var (code, output, err) = Run("compare", "--task", "digits", "--optimizers", "adamw,sgd", "--steps", "40", "--seeds", "2",
            "--eval-every", "10", "--opt", "sgd:lr=0.1,nesterov=true", "--out", outDir, "--no-progress");
        Assert.True(code == 0, err);
        Assert.Contains("adamw", output);
        Assert.Contains("step ms", output);
        foreach (var f in ComparisonReport.Files) Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        Assert.Empty(Directory.GetFiles(outDir, "*.partial*"));
        Assert.Empty(Directory.GetFiles(outDir, "*" + SharpOptim.Checkpoints.AtomicFile.TemporarySuffix));

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
        var root = doc.RootElement;
        Assert.True(root.GetProperty("complete").GetBoolean());
        Assert.Equal("digits", root.GetProperty("task").GetString());
        Assert.Contains("--opt sgd:lr=0.1,nesterov=true", root.GetProperty("command").GetString());
        Assert.True(root.GetProperty("machine").GetProperty("cores").GetInt32() >= 1);
        var runs = root.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(4, runs.Count);
        Assert.Equal(new[] { "adamw", "adamw", "sgd", "sgd" }, runs.Select(r => r.GetProperty("optimizer").GetString()));
        Assert.Equal(new[] { 0, 1, 0, 1 }, runs.Select(r => r.GetProperty("seed").GetInt32()));
        foreach (var r in runs)
        {
            Assert.Equal(40, r.GetProperty("losses").GetArrayLength());
            Assert.Equal(40, r.GetProperty("gradient_norms").GetArrayLength());
            var seconds = r.GetProperty("seconds").EnumerateArray().Select(x => x.GetDouble()).ToList();
            Assert.True(seconds.Zip(seconds.Skip(1)).All(p => p.Second >= p.First), "cumulative seconds must not decrease");
            var evals = r.GetProperty("evaluations").EnumerateArray().Select(e => e.GetProperty("step").GetInt32()).ToList();
            Assert.Equal(new[] { 10, 20, 30, 40 }, evals);
            var losses = r.GetProperty("losses").EnumerateArray().Select(x => x.GetDouble()).ToList();
            Assert.True(losses.TakeLast(5).Average() < losses.Take(5).Average(), "loss must fall over 40 steps");
            double acc = r.GetProperty("test_accuracy").GetDouble();
            Assert.InRange(acc, 0, 1);
        }
        // Same seed, same initial model and batches: the first loss is identical across optimizers (log(10) ± init).
        Assert.Equal(runs[0].GetProperty("losses")[0].GetDouble(), runs[2].GetProperty("losses")[0].GetDouble());
        Assert.Equal(1, runs[2].GetProperty("hyperparameters").GetProperty("nesterov").GetDouble());
        // AdamW holds 8 bytes per parameter of the 64-64-10 MLP (4,810 parameters); SGD with momentum 4.
        Assert.Equal(8 * 4810, runs[0].GetProperty("state_bytes").GetInt64());
        Assert.Equal(4 * 4810, runs[2].GetProperty("state_bytes").GetInt64());
        var summary = root.GetProperty("summary").EnumerateArray().ToList();
        Assert.Equal(2, summary.Count);
        Assert.Equal(2, summary[0].GetProperty("runs").GetInt32());

        var csv = File.ReadAllLines(Path.Combine(outDir, "results.csv"));
        Assert.Equal(5, csv.Length);
        Assert.StartsWith("task,optimizer,seed,completed,diverged", csv[0]);
        Assert.StartsWith("digits,sgd,1,true,false,40,", csv[4]);

        foreach (var png in new[] { "loss_vs_step.png", "loss_vs_time.png", "test_loss_vs_step.png" })
        {
            var bytes = File.ReadAllBytes(Path.Combine(outDir, png));
            Assert.True(bytes.Length > 10_000, $"{png} is only {bytes.Length} bytes");
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
            Assert.Equal(900, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        }
        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains("| adamw | 2 |", report);
        Assert.Contains("| sgd | 2 |", report);
        Assert.Contains("![training loss vs step](loss_vs_step.png)", report);
        Assert.DoesNotContain("Incomplete", report);

        // Schedule refinement from this run's gradient norms: runs, and a different step count is refused.
        string refined = Path.Combine(_dir, "refined");
        var (c2, _, e2) = Run("compare", "--task", "digits", "--optimizers", "sgd", "--steps", "40", "--seeds", "1",
            "--schedule", "refined:from=" + outDir, "--out", refined, "--no-progress");
        Assert.True(c2 == 0, e2);
        using var doc2 = JsonDocument.Parse(File.ReadAllText(Path.Combine(refined, "results.json")));
        Assert.StartsWith("refined:from=", doc2.RootElement.GetProperty("schedule").GetString());
        var refinedLosses = doc2.RootElement.GetProperty("runs")[0].GetProperty("losses").EnumerateArray().Select(x => x.GetDouble()).ToList();
        var constantLosses = runs[2].GetProperty("losses").EnumerateArray().Select(x => x.GetDouble()).ToList();
        Assert.Equal(constantLosses[0], refinedLosses[0]);
        Assert.NotEqual(constantLosses[^1], refinedLosses[^1]);
        var (c3, _, e3) = Run("compare", "--optimizers", "sgd", "--steps", "41", "--schedule", "refined:from=" + outDir, "--out", refined, "--no-progress");
        Assert.Equal(2, c3);
        Assert.Contains("have 40 steps; this run has 41", e3);
        var (c4, _, e4) = Run("compare", "--optimizers", "lion", "--steps", "40", "--schedule", "refined:from=" + outDir, "--out", refined, "--no-progress");
        Assert.Equal(2, c4);
        Assert.Contains("no completed run of 'lion'", e4);
    }

    [Fact]
    public void InterruptionWritesFinishedRunsMarkedIncompleteAndExitsNonZero()
    {
        string outDir = Path.Combine(_dir, "stopped");
        using var cts = new CancellationTokenSource();
        var o = new StringWriter();
        var args = new[] { "compare", "--optimizers", "sgd,adamw", "--steps", "30", "--seeds", "2", "--out", outDir, "--no-progress" };
        int code = CompareCommand.Run(Options.Parse(args[1..], CompareCommand.Flags), args, o, cts.Token, _ => cts.Cancel());
        Assert.Equal(CompareCommand.InterruptedExitCode, code);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
        Assert.False(doc.RootElement.GetProperty("complete").GetBoolean());
        var runs = doc.RootElement.GetProperty("runs").EnumerateArray().ToList();
        Assert.Single(runs);
        Assert.True(runs[0].GetProperty("completed").GetBoolean());
        Assert.Contains("Incomplete", File.ReadAllText(Path.Combine(outDir, "report.md")));
        Assert.Contains("interrupted", o.ToString());
    }

    [Fact]
    public void ADivergingOptimizerIsReportedAndTheComparisonGoesOn()
    {
        string outDir = Path.Combine(_dir, "diverged");
        var (code, output, err) = Run("compare", "--optimizers", "sgd,adamw", "--opt", "sgd:lr=1e9", "--steps", "20", "--seeds", "1",
            "--out", outDir, "--no-progress");
        Assert.True(code == 0, err);
        Assert.Contains("diverged", output);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
        Assert.True(doc.RootElement.GetProperty("complete").GetBoolean());
        var runs = doc.RootElement.GetProperty("runs").EnumerateArray().ToList();
        Assert.True(runs[0].GetProperty("diverged").GetBoolean());
        Assert.False(runs[0].GetProperty("completed").GetBoolean());
        Assert.True(runs[0].GetProperty("steps_taken").GetInt32() < 20);
        Assert.All(runs[0].GetProperty("losses").EnumerateArray(), l => Assert.True(double.IsFinite(l.GetDouble())));
        Assert.True(runs[1].GetProperty("completed").GetBoolean());
        Assert.Contains("| sgd (1 diverged) | 0 | — |", File.ReadAllText(Path.Combine(outDir, "report.md")));
        // One run per optimizer: means alone (no "± 0"), and the table says how many runs each figure covers.
        Assert.DoesNotContain("±", File.ReadAllText(Path.Combine(outDir, "report.md")).Split('\n').Single(l => l.StartsWith("| adamw |", StringComparison.Ordinal)));
        var row = output.Split('\n').Single(l => l.TrimStart().StartsWith("adamw ", StringComparison.Ordinal) && l.Contains('│'));
        Assert.DoesNotContain("±", row);
        Assert.Equal("1", row.Split('│')[1].Trim());
        Assert.Contains("n: completed runs", output);
        Assert.True(doc.RootElement.GetProperty("summary").EnumerateArray().All(x => x.GetProperty("test_loss_std").ValueKind == JsonValueKind.Null));
    }

    [Fact]
    public void NameAtLabelComparesTwoConfigurationsOfOneOptimizer()
    {
        string outDir = Path.Combine(_dir, "variants");
        var (code, output, err) = Run("compare", "--optimizers", "sgd,sgd@slow", "--opt", "sgd@slow:lr=0.001", "--steps", "20", "--seeds", "1",
            "--out", outDir, "--no-progress");
        Assert.True(code == 0, err);
        Assert.Contains("sgd@slow", output);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
        var runs = doc.RootElement.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(new[] { "sgd", "sgd@slow" }, runs.Select(r => r.GetProperty("optimizer").GetString()));
        Assert.Equal(0.05, runs[0].GetProperty("hyperparameters").GetProperty("lr").GetDouble());
        Assert.Equal(0.001, runs[1].GetProperty("hyperparameters").GetProperty("lr").GetDouble());
        // Same seed, same start: the first losses agree, then the slower configuration falls behind.
        var l0 = runs[0].GetProperty("losses").EnumerateArray().Select(x => x.GetDouble()).ToList();
        var l1 = runs[1].GetProperty("losses").EnumerateArray().Select(x => x.GetDouble()).ToList();
        Assert.Equal(l0[0], l1[0]);
        Assert.True(l1[^1] > l0[^1], $"lr 0.001 ended at {l1[^1]}, lr 0.05 at {l0[^1]}");
        foreach (var bad in new[] { "sgd@", "@slow", "sgd@a b", "sgdx@slow" })
        {
            var (c, _, e) = Run("compare", "--optimizers", bad, "--out", Path.Combine(_dir, "never"), "--no-progress");
            Assert.Equal(2, c);
            Assert.Contains(bad.StartsWith("sgdx", StringComparison.Ordinal) ? "sgdx" : bad, e);
        }
        Assert.False(Directory.Exists(Path.Combine(_dir, "never")));
    }

    [Fact]
    public void ANativeErrorInARunIsRetriedOnceAndOnlyOnce()
    {
        int calls = 0;
        var seen = new List<string>();
        int Flaky() => ++calls == 1 ? throw new System.Runtime.InteropServices.ExternalException("Expected false to be true\nframe #0") : 42;
        Assert.Equal(42, CompareCommand.WithOneRetryOnNativeError(Flaky, e => seen.Add(e.Message), () => false));
        Assert.Equal(2, calls);
        Assert.Single(seen);
        // A second failure propagates; a stop request means no retry; other exceptions are not retried.
        calls = 0;
        Assert.Throws<System.Runtime.InteropServices.ExternalException>(() =>
            CompareCommand.WithOneRetryOnNativeError<int>(() => { calls++; throw new System.Runtime.InteropServices.ExternalException("again"); }, _ => { }, () => false));
        Assert.Equal(2, calls);
        calls = 0;
        Assert.Throws<System.Runtime.InteropServices.ExternalException>(() =>
            CompareCommand.WithOneRetryOnNativeError<int>(() => { calls++; throw new System.Runtime.InteropServices.ExternalException("stop"); }, _ => { }, () => true));
        Assert.Equal(1, calls);
        calls = 0;
        Assert.Throws<InvalidOperationException>(() =>
            CompareCommand.WithOneRetryOnNativeError<int>(() => { calls++; throw new InvalidOperationException("bug"); }, _ => { }, () => false));
        Assert.Equal(1, calls);
    }

    [Fact]
    public void CtrlCAfterTheLastRunFinishedKeepsTheComparisonComplete()
    {
        string outDir = Path.Combine(_dir, "late");
        using var cts = new CancellationTokenSource();
        var o = new StringWriter();
        var args = new[] { "compare", "--optimizers", "sgd,adamw", "--steps", "10", "--seeds", "1", "--out", outDir, "--no-progress" };
        int finished = 0;
        int code = CompareCommand.Run(Options.Parse(args[1..], CompareCommand.Flags), args, o, cts.Token, _ => { if (++finished == 2) cts.Cancel(); });
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
        Assert.True(doc.RootElement.GetProperty("complete").GetBoolean());
    }

    [Fact]
    public void OverridesParseFlagsAndNumbers()
    {
        var h = CompareCommand.ParseOverrides(new[] { "adamw:lr=3e-4,amsgrad=true", "lion:weight_decay=0.1" }, new[] { "adamw", "lion" });
        Assert.Equal(3e-4, h["adamw"]["lr"]);
        Assert.Equal(1, h["adamw"]["amsgrad"]);
        Assert.Equal(0.1, h["lion"]["weight_decay"]);
        Assert.Throws<UsageException>(() => CompareCommand.ParseOverrides(new[] { "adamw:lr" }, new[] { "adamw" }));
        Assert.Throws<UsageException>(() => CompareCommand.ParseOverrides(new[] { "adamw:lr=1,lr=2" }, new[] { "adamw" }));
    }
}
