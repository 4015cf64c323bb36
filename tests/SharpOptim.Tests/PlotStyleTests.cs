using SharpOptim.Cli.Commands;
using SharpOptim.Cli.Compare;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>The plots: one colour per curve, and a log loss axis when losses span decades.</summary>
public class PlotStyleTests
{
    [Theory]
    [InlineData(6)]
    [InlineData(10)]
    [InlineData(14)]
    [InlineData(20)]
    public void EveryCurveGetsItsOwnColour(int curves) =>
        Assert.Equal(curves, PlotStyle.Colors(curves).Select(c => c.ToHex()).Distinct().Count());

    [Fact]
    public void TheSchedulesOverviewHasAColourPerSchedule()
    {
        int n = PlotSchedulesCommand.Gallery(1000).Count;
        Assert.True(n > 10, $"{n} schedules: the default palette would repeat only past 10");
        Assert.Equal(n, PlotStyle.Colors(n).Select(c => c.ToHex()).Distinct().Count());
    }

    [Fact]
    public void LossesSpanningADecadeGoOnALogAxis()
    {
        Assert.True(PlotStyle.UseLogScale(new[] { 2.3, 0.5, 0.05, 0.01 }));      // digits training loss: 2.3 → 0.01
        Assert.False(PlotStyle.UseLogScale(new[] { 4.2, 3.0, 2.1, 1.9 }));       // charlm: within a decade
        Assert.False(PlotStyle.UseLogScale(new[] { 2.3, 0.24 }));                // just under 10x
        Assert.False(PlotStyle.UseLogScale(new[] { 1.0, 0.0, double.NaN }));     // zeros and NaN are not a span
        Assert.Equal(new[] { 0.0, -2.0, -3.0 }, PlotStyle.Log10(new[] { 1.0, 0.01, 0.0 }, 1e-3));
    }
}
