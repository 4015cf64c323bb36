using Xunit;

namespace SharpOptim.Tests.Policy;

/// <summary>The <c>sharpoptim rl</c> options of the miniatures (task variants, --disco-delta, --capo-tau-h/-f,
/// --train-prompts): bad usage exits with code 2 and names the bad value or the valid choices, before anything runs.</summary>
[Collection("kernel-threads")]
public class RlMiniatureOptionsTests
{
    [Fact]
    public void BadMiniatureOptionsAreUsageErrors()
    {
        var (c0, help, _) = CliTests.Run("rl", "--help");
        Assert.Equal(0, c0);
        Assert.Contains("addition-zeros", help);
        Assert.Contains("--capo-tau-h", help);
        var (c1, _, e1) = CliTests.Run("rl", "--task", "addition-easy", "--out", "/no/such/dir");
        Assert.Equal(2, c1);
        Assert.Contains("addition-easy", e1);
        Assert.Contains("addition-hard", e1);
        var (c2, _, e2) = CliTests.Run("rl", "--methods", "disco", "--disco-delta", "1e-3,abc", "--out", "/no/such/dir");
        Assert.Equal(2, c2);
        Assert.Contains("abc", e2);
        var (c3, _, e3) = CliTests.Run("rl", "--methods", "grpo", "--capo-tau-h", "0.1", "--out", "/no/such/dir");
        Assert.Equal(2, c3);
        Assert.Contains("capo", e3);
        var (c4, _, e4) = CliTests.Run("rl", "--methods", "capo", "--capo-tau-f", "-1", "--out", "/no/such/dir");
        Assert.Equal(2, c4);
        Assert.Contains("'-1'", e4);
        var (c5, _, e5) = CliTests.Run("rl", "--train-prompts", "3", "--out", "/no/such/dir");
        Assert.Equal(2, c5);
        Assert.Contains("--train-prompts 3", e5);
        var (c6, _, e6) = CliTests.Run("rl", "--methods", "disco", "--disco-delta", "1e-3,1e-3", "--out", "/no/such/dir");
        Assert.Equal(2, c6);
        Assert.Contains("twice", e6);
        var (c7, _, e7) = CliTests.Run("rl", "--methods", "grpo", "--capo-sgd-model", "--out", "/no/such/dir");
        Assert.Equal(2, c7);
        Assert.Contains("--capo-sgd-model", e7);
        Assert.False(Directory.Exists("/no/such/dir"));
    }
}
