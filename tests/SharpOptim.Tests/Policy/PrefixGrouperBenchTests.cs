using System.Text.Json;
using SharpOptim.Cli;
using SharpOptim.Policy;
using Xunit;

namespace SharpOptim.Tests.Policy;

/// <summary>
/// <c>sharpoptim bench prefix-grouper</c> end to end on one short row (no timing is asserted: the machine is shared),
/// and its usage errors. The grouped and repeated losses of the bench's own step must agree to float32 rounding of a
/// mean of O(1) terms (1e-4), and the FLOP columns must be the report's formula.
/// </summary>
public class PrefixGrouperBenchTests
{
    [Fact]
    public void OneShortRunWritesTheReportWithEqualLossesAndTheFlopFormula()
    {
        string dir = Path.Combine(Path.GetTempPath(), "sharpoptim-pg-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            var o = new StringWriter();
            var e = new StringWriter();
            int code = CommandLine.Run(new[] { "bench", "prefix-grouper", "--prefixes", "56", "--group", "2", "--warmup", "0", "--repeats", "1", "--no-memory", "--out", dir }, o, e);
            Assert.True(code == 0, e.ToString());
            foreach (var f in new[] { "report.md", "results.json", "results.csv", "step_time.png" })
                Assert.True(File.Exists(Path.Combine(dir, f)), f);
            Assert.Empty(Directory.GetDirectories(dir));   // the staging folder is gone
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
            var row = Assert.Single(doc.RootElement.GetProperty("rows").EnumerateArray().ToArray());
            Assert.Equal(56, row.GetProperty("prefix").GetInt32());
            Assert.Equal(8, row.GetProperty("completion").GetInt32());
            Assert.True(row.GetProperty("loss_difference").GetDouble() <= 1e-4);
            Assert.Equal(PrefixGrouper.AttentionFlopRatio(56, 8, 2), row.GetProperty("attention_flop_ratio").GetDouble(), 15);
            Assert.Equal(56 + 2 * 8, row.GetProperty("grouped_tokens").GetInt32());
            Assert.Equal(2 * 64, row.GetProperty("repeated_tokens").GetInt32());
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void BadPromptLengthsAreUsageErrors()
    {
        var o = new StringWriter();
        var e = new StringWriter();
        Assert.Equal(2, CommandLine.Run(new[] { "bench", "prefix-grouper", "--prefixes", "8,64" }, o, e));
        Assert.Contains("--prefixes takes prompt lengths in [1, 63]; got '64'", e.ToString());
        var (code, help) = (CommandLine.Run(new[] { "bench", "prefix-grouper", "--help" }, o = new StringWriter(), e), o.ToString());
        Assert.Equal(0, code);
        Assert.StartsWith("usage: sharpoptim bench prefix-grouper [options]", help);
        Assert.Contains("--no-memory", help);
    }
}
