using SharpOptim.Cli;
using SharpOptim.Distributed;
using SharpOptim.Tasks.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

/// <summary>
/// The event-driven branch of <c>sharpoptim dist</c>: the breast_cancer ℓ2-logistic nodes, the edge-list graphs, the
/// DADAO / gradient-tracking / SA-SRRW drivers and the command's files and input checks.
/// </summary>
public class DistEventDrivenTests
{
    private static readonly Lazy<LogisticNodes> Small = new(() => new LogisticNodes(4, 0.5));

    [Fact]
    public void NodeGradientsMatchFiniteDifferencesAndVanishOnAverageAtTheMinimizer()
    {
        var p = Small.Value;
        Assert.Equal(4, p.Nodes);
        Assert.Equal(30, p.Dimension);
        Assert.Equal(455, Enumerable.Range(0, 4).Sum(p.RowsOf));
        var rng = new Random(3);
        var x = Enumerable.Range(0, p.Dimension).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var mean = new double[p.Dimension];
        var g = new double[p.Dimension];
        for (int i = 0; i < p.Nodes; i++)
        {
            p.Gradient(i, x, g);
            for (int k = 0; k < g.Length; k++) mean[k] += g[k] / p.Nodes;
        }
        // Central differences of the mean loss: truncation error O(h²·max third derivative), about 1e-10 at h = 1e-5;
        // rounding about 1e-16/h ≈ 1e-11.
        for (int k = 0; k < p.Dimension; k += 7)
        {
            var plus = (double[])x.Clone();
            var minus = (double[])x.Clone();
            plus[k] += 1e-5;
            minus[k] -= 1e-5;
            Assert.InRange((p.Loss(plus) - p.Loss(minus)) / 2e-5 - mean[k], -1e-7, 1e-7);
        }
        Array.Clear(mean);
        for (int i = 0; i < p.Nodes; i++)
        {
            p.Gradient(i, p.Minimizer, g);
            for (int k = 0; k < g.Length; k++) mean[k] += g[k];
        }
        Assert.True(Math.Sqrt(mean.Sum(v => v * v)) < 1e-12, "Σ_i ∇f_i(x*) = 0 (Newton's stopping rule is 1e-13 on the mean)");
        Assert.True(p.Smoothness > p.StrongConvexity);
    }

    [Fact]
    public void GraphsAreConnectedWithTheirPromisedShape()
    {
        Assert.Equal(10, NodeGraphs.Ring(10).Length);
        Assert.Equal(45, NodeGraphs.Complete(10).Distinct().Count());
        var geometric = NodeGraphs.RandomGeometric(10, 0);
        Assert.True(NodeGraphs.IsConnected(10, geometric));
        Assert.Equal(geometric, NodeGraphs.RandomGeometric(10, 0)); // seeded
        var smallWorld = NodeGraphs.SmallWorld(20, 4, 0.2, 0);
        Assert.True(NodeGraphs.IsConnected(20, smallWorld));
        Assert.Equal(40, smallWorld.Distinct().Count()); // rewiring keeps the lattice's n·k/2 edges
        Assert.All(smallWorld, e => Assert.True(e.I < e.J));
        Assert.False(NodeGraphs.IsConnected(4, new[] { (0, 1), (2, 3) }));
        Assert.Throws<ArgumentException>(() => NodeGraphs.Create("star", 5, 0));
    }

    [Fact]
    public void DadaoAndGradientTrackingReachTheMinimizer()
    {
        var p = Small.Value;
        var ring = NodeGraphs.Ring(4);
        var dadao = EventDrivenExperiments.RunDadao(p, ring, "ring", seed: 1, target: 1e-8, maxEvents: 400_000);
        Assert.True(dadao.Reached, "DADAO reaches (1/n)Σ‖x_i − x*‖² < 1e-8");
        Assert.True(dadao.Curve[^1].Error < 1e-8);
        Assert.Equal(dadao.Gradients, dadao.Curve[^1].Gradients);
        var again = EventDrivenExperiments.RunDadao(p, ring, "ring", seed: 1, target: 1e-8, maxEvents: 400_000);
        Assert.Equal(dadao.Gradients, again.Gradients); // the event lists are seeded
        Assert.Equal(dadao.Communications, again.Communications);

        var gt = EventDrivenExperiments.RunGradientTracking(p, ring, "ring", 1e-8);
        Assert.True(gt.Reached);
        // Accounting: n gradients at the start and per round; x and y over each of the 4 edges per round.
        long rounds = gt.Gradients / p.Nodes - 1;
        Assert.Equal(0, gt.Gradients % p.Nodes);
        Assert.Equal(2 * 4 * rounds, gt.Communications);
        Assert.Contains(gt.Constants["step_factor"], new[] { 0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128 });
        // The tuned step is the best of the grid: every other factor needs at least as many rounds.
        foreach (var c in new[] { 0.5, 1.0 })
        {
            var other = EventDrivenExperiments.RunGradientTracking(p, ring, "ring", 1e-8, new[] { c });
            Assert.True(!other.Reached || other.Gradients >= gt.Gradients);
        }
    }

    [Fact]
    public void SaSrrwRunsAreSeededAndRecordTheSameSteps()
    {
        var p = Small.Value;
        var edges = NodeGraphs.Ring(4);
        var options = new SaSrrwOptions { Repellence = 5, Seed = 2, StepScale = 1 };
        var a = EventDrivenExperiments.RunSaSrrw(p, edges, "ring", options, 500);
        var b = EventDrivenExperiments.RunSaSrrw(p, edges, "ring", options, 500);
        Assert.Equal(a.Curve, b.Curve);
        var steps = EventDrivenExperiments.LogSpaced(500, 40);
        Assert.Equal(steps, a.Curve.Skip(1).Select(q => q.Gradients));
        Assert.Equal(1, steps[0]);
        Assert.Equal(500, steps[^1]);
        Assert.True(a.Curve[^1].Error < a.Curve[0].Error);
        Assert.InRange(a.Communications, 1, 500);
    }

    [Fact]
    public void TheCommandWritesItsReportAndRejectsWhatItCannotRun()
    {
        string dir = Path.Combine(Path.GetTempPath(), "sharpoptim-dist-event-" + Guid.NewGuid().ToString("N"));
        try
        {
            var o = new StringWriter();
            var e = new StringWriter();
            int code = CommandLine.Run(new[] { "dist", "--algorithm", "sa-srrw", "--workers", "5", "--topology", "ring", "--alphas", "0,5", "--seeds", "2", "--rounds", "300", "--out", dir }, o, e);
            Assert.True(code == 0, e.ToString());
            Assert.Contains("| sa-srrw alpha=5 | 2 |", o.ToString());
            foreach (var f in new[] { "results.json", "curves.csv", "error_vs_steps.png", "report.md" }) Assert.True(File.Exists(Path.Combine(dir, f)), f);
            Assert.Empty(Directory.GetDirectories(dir));
            Assert.Contains("RECONSTRUCTION", File.ReadAllText(Path.Combine(dir, "report.md")));

            var bad = new StringWriter();
            Assert.Equal(2, CommandLine.Run(new[] { "dist", "--algorithm", "dadao", "--task", "digits" }, new StringWriter(), bad));
            Assert.Contains("breast_cancer", bad.ToString());
            bad = new StringWriter();
            Assert.Equal(2, CommandLine.Run(new[] { "dist", "--algorithm", "dadao", "--backend", "mpi" }, new StringWriter(), bad));
            Assert.Contains("simulator only", bad.ToString());
            bad = new StringWriter();
            Assert.Equal(2, CommandLine.Run(new[] { "dist", "--algorithm", "dadao,dsgd" }, new StringWriter(), bad));
            Assert.Contains("runs alone", bad.ToString());
            bad = new StringWriter();
            Assert.Equal(2, CommandLine.Run(new[] { "dist", "--algorithm", "sa-srrw", "--topology", "torus" }, new StringWriter(), bad));
            Assert.Contains("small-world", bad.ToString());
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
