using System.Text.Json;
using SharpOptim.Cli;
using Xunit;

namespace SharpOptim.Tests.Policy;

/// <summary>
/// <c>sharpoptim bench remax-ppo</c> end to end on one tiny model (no timing is asserted: the machine is shared): the
/// report, results and plots are written through the staging folder, and the counted bytes are exact functions of the
/// parameter count P of a 1 × 8 model (vocabulary 13): policy parameters and gradients 4P each and the frozen reference
/// 4P for both methods; the critic holds P + 8 + 1 parameters (the trunk with its frozen vocabulary head and the value
/// head) and gradients only for the P − 13·8 + 8 + 1 trainable ones; ReMax has no critic. Also the memory child's
/// output (the peak after the reset is at least the resident size at the reset) and the usage errors.
/// </summary>
public class PpoBenchTests
{
    [Fact]
    public void OneTinyRunWritesTheReportWithExactCountedBytes()
    {
        string dir = Path.Combine(Path.GetTempPath(), "sharpoptim-remax-ppo-" + Guid.NewGuid().ToString("N"));
        string cache = Path.Combine(Path.GetTempPath(), "sharpoptim-remax-ppo-cache-" + Guid.NewGuid().ToString("N"));
        try
        {
            var o = new StringWriter();
            var e = new StringWriter();
            int code = CommandLine.Run(new[] { "bench", "remax-ppo", "--sizes", "1x8", "--prompts", "2", "--group", "2", "--warmup", "0", "--repeats", "1",
                "--no-memory", "--cache", cache, "--out", dir }, o, e);
            Assert.True(code == 0, e.ToString());
            foreach (var f in new[] { "report.md", "results.json", "step_time.png", "memory.png" })
                Assert.True(File.Exists(Path.Combine(dir, f)), f);
            Assert.Empty(Directory.GetDirectories(dir));
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
            var row = Assert.Single(doc.RootElement.GetProperty("rows").EnumerateArray().ToArray());
            long p = row.GetProperty("parameters").GetInt64();
            Assert.Equal(p + 8 + 1, row.GetProperty("critic_parameters").GetInt64());
            var remax = row.GetProperty("remax_bytes");
            var ppo = row.GetProperty("ppo_bytes");
            foreach (var b in new[] { remax, ppo })
            {
                Assert.Equal(4 * p, b.GetProperty("policy_params").GetInt64());
                Assert.Equal(4 * p, b.GetProperty("policy_grads").GetInt64());
                Assert.Equal(4 * p, b.GetProperty("reference_params").GetInt64());
                Assert.True(b.GetProperty("policy_optimizer_state").GetInt64() >= 8 * p);   // Adam's m and v
            }
            Assert.Equal(0, remax.GetProperty("critic_params").GetInt64());
            Assert.Equal(0, remax.GetProperty("critic_optimizer_state").GetInt64());
            Assert.Equal(4 * (p + 8 + 1), ppo.GetProperty("critic_params").GetInt64());
            Assert.Equal(4 * (p - 13 * 8 + 8 + 1), ppo.GetProperty("critic_grads").GetInt64());
            Assert.True(ppo.GetProperty("critic_optimizer_state").GetInt64() >= 8 * (p - 13 * 8 + 8 + 1));
            Assert.Equal(remax.GetProperty("total").GetInt64() / (double)ppo.GetProperty("total").GetInt64(),
                row.GetProperty("counted_bytes_ratio_remax_over_ppo").GetDouble(), 12);
            Assert.Equal(0, row.GetProperty("remax").GetProperty("critic_ms").GetDouble());
            Assert.True(row.GetProperty("ppo").GetProperty("critic_ms").GetDouble() > 0);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
            if (Directory.Exists(cache)) Directory.Delete(cache, true);
        }
    }

    [Fact]
    public void MemoryChildReportsBaselineAndPeak()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/clear_refs")) return;   // the probe needs Linux's clear_refs
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLine.Run(new[] { "bench", "remax-ppo", "--child", "ppo", "--size", "1x8", "--prompts", "2", "--group", "2",
            "--cache", Path.Combine(Path.GetTempPath(), "sharpoptim-none-" + Guid.NewGuid().ToString("N")) }, o, e);
        Assert.True(code == 0, e.ToString());
        var values = o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).Where(x => x.Length == 2)
            .ToDictionary(x => x[0], x => long.Parse(x[1], System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(values["BASELINE"] > 0);
        Assert.True(values["PEAK"] >= values["BEFORE"]);
    }

    [Fact]
    public void BadSizesAreUsageErrors()
    {
        var o = new StringWriter();
        var e = new StringWriter();
        Assert.Equal(2, CommandLine.Run(new[] { "bench", "remax-ppo", "--sizes", "2x64,3x30" }, o, e));
        Assert.Contains("got '3x30'", e.ToString());
        Assert.Equal(2, CommandLine.Run(new[] { "bench", "remax-ppo", "--child", "grpo" }, o, e = new StringWriter()));
        Assert.Contains("--child takes remax or ppo; got 'grpo'", e.ToString());
        var (code, help) = (CommandLine.Run(new[] { "bench", "remax-ppo", "--help" }, o = new StringWriter(), e), o.ToString());
        Assert.Equal(0, code);
        Assert.StartsWith("usage: sharpoptim bench remax-ppo [options]", help);
        Assert.Contains("--no-memory", help);
    }
}
