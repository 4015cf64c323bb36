using System.Text.Json;
using SharpOptim.Cli;
using SharpOptim.Optimizers;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>The sharpoptim command: exit codes, messages, and the bench step JSON fields.</summary>
[Collection("kernel-threads")]
public class CliTests
{
    /// <summary>Runs the command line in-process, capturing its exit code and both streams.</summary>
    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLine.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void HelpOnACommandPrintsTheUsageAndSucceeds()
    {
        foreach (var args in new[] { new[] { "compare", "--help" }, new[] { "bench", "step", "-h" }, new[] { "help" } })
        {
            var (code, output, _) = Run(args);
            Assert.Equal(0, code);
            Assert.Contains("usage: sharpoptim", output);
        }
    }

    [Fact]
    public void EachCommandHasItsOwnHelpAndTheToolItsVersion()
    {
        var (c1, compare, _) = Run("compare", "--help");
        Assert.Equal(0, c1);
        Assert.StartsWith("usage: sharpoptim compare [options]", compare);
        Assert.Contains("--force", compare);
        Assert.Contains("--eval-every", compare);
        Assert.DoesNotContain("bench step", compare);
        var (c2, step, _) = Run("bench", "step", "-h");
        Assert.Equal(0, c2);
        Assert.StartsWith("usage: sharpoptim bench step [options]", step);
        Assert.Contains("--repeats", step);
        Assert.DoesNotContain("--optimizers A,B", step);
        var (c3, fetch, _) = Run("help", "data", "fetch");
        Assert.Equal(0, c3);
        Assert.Contains("mnist10k", fetch);
        var (c4, all, _) = Run();
        Assert.Equal(0, c4);
        Assert.Contains("bench busy", all);
        var (c5, version, _) = Run("--version");
        Assert.Equal(0, c5);
        Assert.Matches(@"^sharpoptim \d+\.\d+\.\d+.*TorchSharp 0\.107", version);
    }

    [Fact]
    public void OptionValuesGetMessagesThatNameWhatWasTyped()
    {
        // betas as PyTorch writes them become beta1/beta2 (and adam_betas adam_beta1/adam_beta2).
        var overrides = SharpOptim.Cli.Commands.CompareCommand.ParseOverrides(new[] { "adamw:betas=0.8,0.95,lr=0.01", "muon:adam_betas=(0.9,0.99)" }, new[] { "adamw", "muon" });
        Assert.Equal(0.8, overrides["adamw"]["beta1"]);
        Assert.Equal(0.95, overrides["adamw"]["beta2"]);
        Assert.Equal(0.01, overrides["adamw"]["lr"]);
        Assert.Equal(0.99, overrides["muon"]["adam_beta2"]);
        var (c1, _, e1) = Run("compare", "--opt", "adamw:betas=0.9", "--optimizers", "adamw");
        Assert.Equal(2, c1);
        Assert.Contains("betas takes two values", e1);
        var (c2, _, e2) = Run("compare", "--opt", "adamw:amsgrad=yes", "--optimizers", "adamw");
        Assert.Equal(2, c2);
        Assert.Contains("amsgrad=yes is neither a number nor true/false", e2);
        var (c3, _, e3) = Run("compare", "--eval-every", "0", "--steps", "5");
        Assert.Equal(2, c3);
        Assert.Contains("--eval-every", e3);
        // An optimizer's own error names the option, without .NET's "(Parameter 'lr')" suffix.
        var (c4, _, e4) = Run("compare", "--opt", "adamw:lr=-1", "--optimizers", "adamw", "--steps", "2", "--seeds", "1");
        Assert.Equal(2, c4);
        Assert.Contains("lr", e4);
        Assert.DoesNotContain("(Parameter", e4);
    }

    [Fact]
    public void BenchOptimizersReportsStepTimeAndStateAgainstAdamW()
    {
        string json = Path.Combine(Path.GetTempPath(), $"sharpoptim-bench-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output, err) = Run("bench", "optimizers", "--task", "digits", "--optimizers", "lanton", "--warmup", "1", "--repeats", "3", "--json", json);
            Assert.True(code == 0, err);
            Assert.Contains("lanton", output);
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
            var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToList();
            Assert.Equal(new[] { "adamw", "lanton" }, rows.Select(r => r.GetProperty("optimizer").GetString()));
            Assert.Equal(1.0, rows[0].GetProperty("step_vs_adamw").GetDouble());
            // digits MLP 64-64-10: AdamW holds 8 B per parameter; LANTON the same (momentum + previous gradient on the
            // two matrices, AdamW on the biases) plus two float32 scalars on each matrix.
            long adamw = rows[0].GetProperty("state_bytes").GetInt64();
            Assert.Equal(8 * (64 * 64 + 64 + 10 * 64 + 10), adamw);
            Assert.Equal(adamw + 16, rows[1].GetProperty("state_bytes").GetInt64());
            Assert.True(rows[1].GetProperty("train_step_ms").GetDouble() > rows[1].GetProperty("step_ms").GetDouble());
        }
        finally
        {
            File.Delete(json);
        }
        foreach (var (list, expected) in new[] { ("adamx", "adamw"), ("lanton@", "lanton@"), ("@x", "@x"), ("muon,muon", "twice") })
        {
            var (bad, _, e) = Run("bench", "optimizers", "--optimizers", list);
            Assert.Equal(2, bad);
            Assert.Contains(expected, e);
        }
    }

    [Fact]
    public void BadUsageExitsWithTwoAndSaysWhatIsValid()
    {
        var (c1, _, e1) = Run("bench", "stepp");
        Assert.Equal(2, c1);
        Assert.Contains("unknown command", e1);
        var (c2, _, e2) = Run("bench", "step", "--paramz", "3");
        Assert.Equal(2, c2);
        Assert.Contains("--paramz", e2);
        Assert.Contains("--params", e2);
        var (c3, _, e3) = Run("bench", "step", "--optimizer", "adamx");
        Assert.Equal(2, c3);
        Assert.Contains("adamw", e3);
        var (c4, _, e4) = Run("bench", "step", "--params", "-5");
        Assert.Equal(2, c4);
        Assert.Contains("-5", e4);
        var (c5, _, e5) = Run("bench", "step", "--json", "/no/such/dir/out.json", "--params", "10");
        Assert.Equal(2, c5);
        Assert.Contains("/no/such/dir", e5);
    }

    [Fact]
    public void ListTextShowsOptimizersWrappersAndLayersWithPapers()
    {
        var (code, output, _) = Run("list");
        Assert.Equal(0, code);
        foreach (var e in OptimizerCatalog.All) Assert.Contains(e.Name, output);
        Assert.Contains("drop-muon", output);
        Assert.Contains("arXiv:2510.02239", output);
        Assert.Contains("Layers.PCLinear", output);
        Assert.Contains("rank-dep.", output);   // GaLore's and FRUGAL's state depends on rank and shape
    }

    [Fact]
    public void ListShowsEveryRegisteredOptimizer()
    {
        var (code, output, _) = Run("list", "--json");
        Assert.Equal(0, code);
        var all = JsonDocument.Parse(output).RootElement.EnumerateArray().ToList();
        // Family methods (gradient-free, multi-task, bilevel, online, analysis) follow the optimizers, marked by their "family" field.
        var entries = all.Where(e => !e.TryGetProperty("family", out _)).ToList();
        Assert.Equal(OptimizerCatalog.All.Select(e => e.Name), entries.Select(e => e.GetProperty("name").GetString()));
        Assert.All(entries, e => Assert.False(string.IsNullOrEmpty(e.GetProperty("paper").GetString())));
    }

    [Fact]
    public void BenchStepWritesTheDocumentedFields()
    {
        string path = Path.Combine(Path.GetTempPath(), $"sharpoptim-bench-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output, err) = Run("bench", "step", "--optimizer", "adamw", "--params", "100000", "--warmup", "1", "--repeats", "3", "--json", path);
            Assert.True(code == 0, err);
            Assert.Contains("fused", output);
            var d = JsonDocument.Parse(File.ReadAllText(path)).RootElement;
            foreach (var key in new[] { "optimizer", "params", "threads", "fused_ms", "portable_ms", "torchsharp_ms", "triad_gbps", "fused_gbps", "speedup_vs_torchsharp", "bandwidth_fraction" })
                Assert.True(d.TryGetProperty(key, out _), $"missing {key}");
            Assert.Equal("adamw", d.GetProperty("optimizer").GetString());
            Assert.Equal(100000, d.GetProperty("params").GetInt64());
            Assert.Equal(28, d.GetProperty("bytes_per_element").GetInt32());
            double fusedMs = d.GetProperty("fused_ms").GetDouble();
            Assert.True(fusedMs > 0);
            // Derived fields are consistent with the measured ones.
            Assert.Equal(28.0 * 100000 / (fusedMs * 1e-3) / 1e9, d.GetProperty("fused_gbps").GetDouble(), 0.05 * d.GetProperty("fused_gbps").GetDouble());
            Assert.Equal(d.GetProperty("fused_gbps").GetDouble() / d.GetProperty("triad_gbps").GetDouble(), d.GetProperty("bandwidth_fraction").GetDouble(), 0.01);
        }
        finally
        {
            File.Delete(path);
            SharpOptim.Kernels.ChunkedParallel.MaxThreads = Environment.ProcessorCount;
        }
    }
}

/// <summary>The schedule plots are real PNG files, one per schedule plus the overview.</summary>
public class PlotCommandTests
{
    [Fact]
    public void PlotSchedulesWritesOnePngPerSchedule()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"sharpoptim-plots-{Guid.NewGuid():N}");
        try
        {
            int code = CommandLine.Run(new[] { "plot", "schedules", "--out", dir, "--steps", "200" }, new StringWriter(), new StringWriter());
            Assert.Equal(0, code);
            var expected = SharpOptim.Cli.Commands.PlotSchedulesCommand.Gallery(200).Select(g => g.File + ".png").Append("all.png").OrderBy(x => x);
            Assert.Equal(expected, Directory.GetFiles(dir).Select(Path.GetFileName).OrderBy(x => x));
            foreach (var f in Directory.GetFiles(dir))
            {
                var bytes = File.ReadAllBytes(f);
                Assert.True(bytes.Length > 5000, $"{f}: {bytes.Length} bytes");
                Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
            }
            Assert.Equal(2, CommandLine.Run(new[] { "plot", "schedules" }, new StringWriter(), new StringWriter()));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}

/// <summary>bench step on an optimizer without a fused kernel reports the portable path and Muon's Newton–Schulz share.</summary>
public class BenchMuonTests
{
    [Fact]
    public void MuonBenchReportsOrthogonalizationShare()
    {
        string path = Path.Combine(Path.GetTempPath(), $"sharpoptim-bench-{Guid.NewGuid():N}.json");
        try
        {
            var o = new StringWriter();
            var e = new StringWriter();
            int code = CommandLine.Run(new[] { "bench", "step", "--optimizer", "muon", "--params", "4096", "--rows", "32", "--warmup", "1", "--repeats", "3", "--json", path }, o, e);
            Assert.True(code == 0, e.ToString());
            var d = JsonDocument.Parse(File.ReadAllText(path)).RootElement;
            Assert.Equal(JsonValueKind.Null, d.GetProperty("fused_ms").ValueKind);
            Assert.Equal(new long[] { 32, 128 }, d.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray());
            double frac = d.GetProperty("orthogonalization_fraction").GetDouble();
            Assert.InRange(frac, 0.0, 5.0);   // a share of one step (timing noise can push a single ratio past 1)
            Assert.Equal(2, CommandLine.Run(new[] { "bench", "step", "--optimizer", "muon", "--params", "100", "--rows", "7" }, new StringWriter(), new StringWriter()));
            Assert.Equal(2, CommandLine.Run(new[] { "bench", "step", "--optimizer", "adamw", "--params", "100", "--rows", "10" }, new StringWriter(), new StringWriter()));
        }
        finally
        {
            File.Delete(path);
            SharpOptim.Kernels.ChunkedParallel.MaxThreads = Environment.ProcessorCount;
        }
    }
}
