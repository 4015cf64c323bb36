using Xunit;

namespace SharpOptim.Tests.Policy;

/// <summary>The <c>sharpoptim rl</c> command's help and bad usage (exit code 2, the valid choices named, nothing run).</summary>
[Collection("kernel-threads")]
public class RlCommandTests
{
    [Fact]
    public void HelpAndBadUsage()
    {
        var (c0, help, _) = CliTests.Run("rl", "--help");
        Assert.Equal(0, c0);
        Assert.Contains("--methods", help);
        Assert.Contains("noisy-addition", help);
        var (c1, _, e1) = CliTests.Run("rl", "--methods", "grpo,trpo", "--out", "/no/such/dir");
        Assert.Equal(2, c1);
        Assert.Contains("ppo", e1);
        Assert.Contains("capo", e1);
        Assert.Contains("remax", e1);
        var (c2, _, e2) = CliTests.Run("rl", "--task", "charlm");
        Assert.Equal(2, c2);
        Assert.Contains("addition", e2);
        var (c3, _, e3) = CliTests.Run("rl", "--optimizer", "adamx");
        Assert.Equal(2, c3);
        Assert.Contains("adamx", e3);
        Assert.False(Directory.Exists("/no/such/dir"));
    }
}
