using SharpOptim.Distributed;

namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// Drivers of the event-driven methods on <see cref="LogisticNodes"/> (../shared/papers/distributed.md §5.4, §6.4),
/// which do not fit <see cref="DistributedRunner"/>'s lockstep rounds: <see cref="RunDadao"/> feeds
/// <see cref="Dadao"/> the merged Poisson clocks of <see cref="EventSimulator"/> until the error reaches a target;
/// <see cref="RunGradientTracking"/> is the non-accelerated baseline (gradient tracking, full local gradients, step
/// tuned on a grid); <see cref="RunSaSrrw"/> walks <see cref="SaSrrw"/>'s token for a fixed number of steps.
/// Everything is float64.
/// </summary>
public static class EventDrivenExperiments
{
    /// <summary>
    /// DADAO from x⁰ = 0 until (1/n) Σ_i ‖x_i − x*‖² &lt; <paramref name="target"/> (checked every
    /// <paramref name="checkEvery"/> events, on each node's state as of its last event) or <paramref name="maxEvents"/>
    /// events. The event list is generated in chunks of <paramref name="chunk"/> time units, each by
    /// <see cref="EventSimulator.PoissonClocks"/> with its own seed and shifted to follow the previous chunk (the clocks
    /// are Poisson processes, so independent chunks concatenate into one).
    /// </summary>
    public static EventDrivenRun RunDadao(LogisticNodes problem, IReadOnlyList<(int I, int J)> edges, string graph, int seed, double target,
        long maxEvents = 20_000_000, int checkEvery = 100, double chunk = 200)
    {
        ArgumentNullException.ThrowIfNull(problem);
        CheckTarget(target);
        int n = problem.Nodes;
        var dadao = new Dadao(n, edges, new double[problem.Dimension], problem.Gradient, problem.Smoothness, problem.StrongConvexity);
        var curve = new List<EventDrivenRunPoint>();
        double error = Error(problem, i => dadao.X(i));
        curve.Add(new EventDrivenRunPoint(0, 0, error));
        long events = 0;
        double nextRecord = 1;
        bool reached = false;
        for (int part = 0; !reached && events < maxEvents; part++)
        {
            double offset = part * chunk;
            var list = EventSimulator.PoissonClocks(n, edges, dadao.GradientRate, dadao.CommunicationRate, chunk, unchecked(seed * 1_000_003 + part));
            foreach (var e in list)
            {
                dadao.Apply(e with { Time = e.Time + offset });
                if (++events % checkEvery != 0) continue;
                error = Error(problem, i => dadao.X(i));
                reached = error < target;
                if (reached || dadao.GradientEvents >= nextRecord || !double.IsFinite(error))
                {
                    curve.Add(new EventDrivenRunPoint(dadao.GradientEvents, dadao.CommunicationEvents, error));
                    nextRecord = Math.Max(nextRecord * 1.15, dadao.GradientEvents + 1);
                }
                if (reached || !double.IsFinite(error) || events >= maxEvents) break;
            }
        }
        var constants = new Dictionary<string, double>
        {
            ["L"] = problem.Smoothness, ["mu"] = problem.StrongConvexity, ["chi1"] = dadao.Chi1, ["chi2"] = dadao.Chi2,
            ["gradient_rate"] = dadao.GradientRate, ["communication_rate"] = dadao.CommunicationRate, ["time"] = dadao.Time,
        };
        return new EventDrivenRun("dadao", graph, problem.StrongConvexity, seed, reached, dadao.GradientEvents, dadao.CommunicationEvents, curve, constants);
    }

    /// <summary>
    /// The non-accelerated baseline: gradient tracking (DIGing, adapt-then-combine as <see cref="GradientTracking"/>'s
    /// default) with full local gradients and the Metropolis–Hastings mixing weights W = <see cref="Topology.MetropolisHastings"/>
/// (1/(1 + max(d_i, d_j)) per edge) on <paramref name="edges"/>:
    /// <c>x⁺ = W(x − ηy)</c>, <c>y⁺ = W(y + ∇F(x⁺) − ∇F(x))</c>, y⁰ = ∇F(x⁰), x⁰ = 0. The step η = c/L is tuned over
    /// <paramref name="stepFactors"/> c: the run that reaches the target in the fewest rounds is returned (a candidate
    /// is stopped once it needs more rounds than the best so far, or when it diverges). Per round: n gradients and 2|E|
    /// pairwise communications (x and y over every edge).
    /// </summary>
    public static EventDrivenRun RunGradientTracking(LogisticNodes problem, IReadOnlyList<(int I, int J)> edges, string graph, double target,
        IReadOnlyList<double>? stepFactors = null, int maxRounds = 1_000_000)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(edges);
        CheckTarget(target);
        stepFactors ??= new[] { 0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128 };
        var adjacency = new bool[problem.Nodes, problem.Nodes];
        foreach (var (i, j) in edges) adjacency[i, j] = adjacency[j, i] = true;
        var w = Topology.MetropolisHastings(adjacency).Matrix().ToArray();
        EventDrivenRun? best = null;
        foreach (double c in stepFactors)
        {
            var run = GradientTrackingAt(problem, w, edges.Count, graph, c, target, best is null ? maxRounds : (int)(best.Gradients / problem.Nodes));
            if (run.Reached && (best is null || run.Gradients < best.Gradients)) best = run;
        }
        return best ?? GradientTrackingAt(problem, w, edges.Count, graph, stepFactors[0], target, maxRounds);
    }

    private static EventDrivenRun GradientTrackingAt(LogisticNodes problem, double[,] w, int edgeCount, string graph, double factor, double target, int maxRounds)
    {
        int n = problem.Nodes, d = problem.Dimension;
        double step = factor / problem.Smoothness;
        var x = Enumerable.Range(0, n).Select(_ => new double[d]).ToArray();
        var g = Enumerable.Range(0, n).Select(_ => new double[d]).ToArray();
        var y = new double[n][];
        var z = Enumerable.Range(0, n).Select(_ => new double[d]).ToArray();
        var gNew = new double[d];
        for (int i = 0; i < n; i++) { problem.Gradient(i, x[i], g[i]); y[i] = (double[])g[i].Clone(); }
        long gradients = n, communications = 0;
        var curve = new List<EventDrivenRunPoint>();
        double error = Error(problem, i => x[i]);
        curve.Add(new EventDrivenRunPoint(gradients, 0, error));
        double nextRecord = 1;
        bool reached = false;
        for (int round = 1; round <= maxRounds; round++)
        {
            for (int i = 0; i < n; i++) for (int k = 0; k < d; k++) z[i][k] = x[i][k] - step * y[i][k];
            var xNew = Mix(w, z);
            for (int i = 0; i < n; i++)
            {
                problem.Gradient(i, xNew[i], gNew);
                for (int k = 0; k < d; k++) { z[i][k] = y[i][k] + gNew[k] - g[i][k]; g[i][k] = gNew[k]; }
            }
            y = Mix(w, z);
            x = xNew;
            gradients += n;
            communications += 2L * edgeCount;
            error = Error(problem, i => x[i]);
            reached = error < target;
            if (reached || gradients >= nextRecord || !double.IsFinite(error) || error > 1e12)
            {
                curve.Add(new EventDrivenRunPoint(gradients, communications, error));
                nextRecord = Math.Max(nextRecord * 1.15, gradients + 1);
            }
            if (reached || !double.IsFinite(error) || error > 1e12) break;
        }
        var constants = new Dictionary<string, double> { ["L"] = problem.Smoothness, ["mu"] = problem.StrongConvexity, ["step_factor"] = factor, ["step"] = step };
        return new EventDrivenRun("gt", graph, problem.StrongConvexity, 0, reached, gradients, communications, curve, constants);
    }

    /// <summary>
    /// SA-SRRW (a reconstruction, see <see cref="SaSrrw"/>) from θ⁰ = 0 for <paramref name="steps"/> token moves,
    /// recording ‖θ_n − θ*‖² (θ* = argmin of the mean of the f_i: the walk's target μ is uniform) at about 40
    /// log-spaced n (the same n for every seed, so curves average pointwise). Gradients = token moves; communications
    /// = moves to another agent (each sends θ and the visit measure).
    /// </summary>
    public static EventDrivenRun RunSaSrrw(LogisticNodes problem, IReadOnlyList<(int I, int J)> edges, string graph, SaSrrwOptions options, int steps)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(options);
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "steps must be at least 1.");
        var walk = new SaSrrw(problem.Nodes, edges, new double[problem.Dimension], problem.Gradient, options);
        var checkpoints = LogSpaced(steps, 40);
        var curve = new List<EventDrivenRunPoint> { new(0, 0, Distance(walk.Theta, problem.Minimizer)) };
        long moves = 0;
        int next = 0;
        for (long n = 1; n <= steps; n++)
        {
            int before = walk.Position;
            walk.Step();
            if (walk.Position != before) moves++;
            if (next < checkpoints.Length && n == checkpoints[next])
            {
                curve.Add(new EventDrivenRunPoint(n, moves, Distance(walk.Theta, problem.Minimizer)));
                next++;
            }
        }
        var constants = new Dictionary<string, double>
        {
            ["alpha"] = options.Repellence, ["a"] = options.MeasureExponent, ["b"] = options.StepExponent, ["step_scale"] = options.StepScale,
            ["L"] = problem.Smoothness, ["mu"] = problem.StrongConvexity,
            ["visit_measure_max_deviation"] = walk.VisitMeasure.Max(v => Math.Abs(v - 1.0 / problem.Nodes)),
        };
        var final = curve[^1];
        return new EventDrivenRun(FormattableString.Invariant($"sa-srrw alpha={options.Repellence}"), graph, problem.StrongConvexity, options.Seed, true,
            final.Gradients, moves, curve, constants);
    }

    /// <summary>About <paramref name="count"/> distinct whole numbers from 1 to <paramref name="last"/>, log-spaced, ending at <paramref name="last"/>.</summary>
    public static long[] LogSpaced(long last, int count) =>
        Enumerable.Range(0, count).Select(k => (long)Math.Round(Math.Pow(last, (double)k / (count - 1)))).Append(last).Where(v => v >= 1).Distinct().OrderBy(v => v).ToArray();

    private static double[][] Mix(double[,] w, double[][] v)
    {
        int n = v.Length, d = v[0].Length;
        var result = new double[n][];
        for (int i = 0; i < n; i++)
        {
            var r = new double[d];
            for (int j = 0; j < n; j++)
            {
                double weight = w[i, j];
                if (weight == 0) continue;
                for (int k = 0; k < d; k++) r[k] += weight * v[j][k];
            }
            result[i] = r;
        }
        return result;
    }

    private static double Error(LogisticNodes problem, Func<int, double[]> x)
    {
        double total = 0;
        for (int i = 0; i < problem.Nodes; i++) total += Distance(x(i), problem.Minimizer);
        return total / problem.Nodes;
    }

    private static double Distance(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        double sum = 0;
        for (int k = 0; k < a.Count; k++) sum += (a[k] - b[k]) * (a[k] - b[k]);
        return sum;
    }

    private static void CheckTarget(double target)
    {
        if (!double.IsFinite(target) || target <= 0) throw new ArgumentOutOfRangeException(nameof(target), target, "the target error must be positive and finite.");
    }
}
