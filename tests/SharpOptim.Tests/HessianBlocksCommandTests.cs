using SharpOptim.Cli;
using Xunit;

namespace SharpOptim.Tests;

/// <summary><c>sharpoptim analysis hessian-blocks</c>: usage errors exit with 2 before any model is built. (A full run,
/// even at the smallest settings, takes about 25 s in a Debug build, over the unit-test budget; the committed docs run
/// exercises it.)</summary>
public class HessianBlocksCommandTests
{
    [Fact]
    public void MissingOutOrBadCountsAreUsageErrors()
    {
        Assert.Equal(2, CommandLine.Run(new[] { "analysis", "hessian-blocks" }, new StringWriter(), new StringWriter()));
        Assert.Equal(2, CommandLine.Run(new[] { "analysis", "hessian-blocks", "--out", "x", "--probes", "0" }, new StringWriter(), new StringWriter()));
        Assert.Equal(2, CommandLine.Run(new[] { "analysis", "hessian-blocks", "--out", "x", "--lanczos-steps", "0" }, new StringWriter(), new StringWriter()));
    }
}
