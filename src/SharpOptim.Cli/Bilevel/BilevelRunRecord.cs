using SharpOptim.Bilevel;

namespace SharpOptim.Cli.Bilevel;

/// <summary>One evaluation point of a run: after <see cref="Iteration"/> upper iterations, <see cref="Seconds"/> of solver
/// time (evaluation excluded) and <see cref="OracleCalls"/> oracle calls.</summary>
internal sealed record BilevelCurvePoint(long Iteration, double Seconds, long OracleCalls, IReadOnlyDictionary<string, double> Metrics);

/// <summary>One method on one seed.</summary>
internal sealed record BilevelRunRecord(string Method, int Seed, string Config, long Iterations, double Seconds, OracleCounts Counts,
    IReadOnlyDictionary<string, double> Final, IReadOnlyList<BilevelCurvePoint> Curve, bool Diverged);

/// <summary>Everything one bilevel command produced.</summary>
internal sealed record BilevelResults(string Task, string Command, IReadOnlyList<string> Methods, int Seeds, string Headline, IReadOnlyList<string> TableMetrics,
    IReadOnlyList<BilevelRunRecord> Runs, IReadOnlyList<(int Seed, string Name, IReadOnlyDictionary<string, double> Metrics)> Baselines, string Machine);
