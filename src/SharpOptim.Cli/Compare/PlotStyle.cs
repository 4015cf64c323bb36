namespace SharpOptim.Cli.Compare;

/// <summary>Colours and axis scales shared by the command's plots.</summary>
internal static class PlotStyle
{
    /// <summary>
    /// One colour per curve, never repeated while there are at most 20: Category10 for up to 10 curves (the familiar
    /// matplotlib colours), Category20 beyond that.
    /// </summary>
    public static ScottPlot.Color[] Colors(int count)
    {
        ScottPlot.IPalette palette = count <= 10 ? new ScottPlot.Palettes.Category10() : new ScottPlot.Palettes.Category20();
        return Enumerable.Range(0, count).Select(palette.GetColor).ToArray();
    }

    /// <summary>Losses spanning a decade or more (largest over smallest positive value) are drawn on a log axis,
    /// where a linear one would flatten the differences late in training.</summary>
    public static bool UseLogScale(IEnumerable<double> values)
    {
        var positive = values.Where(v => double.IsFinite(v) && v > 0).ToList();
        return positive.Count > 1 && positive.Max() / positive.Min() >= 10;
    }

    /// <summary>Log10 of each value (values ≤ 0 drawn at the floor), for a log axis.</summary>
    public static double[] Log10(double[] values, double floor) => values.Select(v => Math.Log10(Math.Max(v, floor))).ToArray();

    /// <summary>Makes the left axis of <paramref name="plot"/> read as a log axis over log10-transformed data.</summary>
    public static void LogAxis(ScottPlot.Plot plot)
    {
        var ticks = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => Math.Pow(10, y).ToString("G3", System.Globalization.CultureInfo.InvariantCulture),
        };
        plot.Axes.Left.TickGenerator = ticks;
    }
}
