using SharpOptim.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

public class DadaoTests
{
    private sealed record Problem(int Nodes, int Dim, int Samples, double Mu, double L, (int, int)[] Edges, double[] A, double[] Y, double[] X0)
    {
        // f_i(x) = mean_k softplus(−y_k a_kᵀx) + μ/2‖x‖² (the official code's logistic regression), gradient in float64.
        public void Gradient(int i, double[] x, double[] into)
        {
            Array.Clear(into);
            for (int k = 0; k < Samples; k++)
            {
                int row = (i * Samples + k) * Dim;
                double z = 0;
                for (int c = 0; c < Dim; c++) z += A[row + c] * x[c];
                double y = Y[i * Samples + k];
                double w = -y / (1 + Math.Exp(y * z)) / Samples; // d/dz softplus(−yz) = −y·σ(−yz)
                for (int c = 0; c < Dim; c++) into[c] += w * A[row + c];
            }
            for (int c = 0; c < Dim; c++) into[c] += Mu * x[c];
        }
    }

    private static (Problem P, System.Text.Json.JsonElement Root) Load()
    {
        var root = Golden.Load("distributed_dadao.json").RootElement;
        var edges = root.GetProperty("edges").EnumerateArray().Select(e => (e[0].GetInt32(), e[1].GetInt32())).ToArray();
        double[] D(string name) => root.GetProperty(name).EnumerateArray().Select(v => v.GetDouble()).ToArray();
        return (new Problem(root.GetProperty("nodes").GetInt32(), root.GetProperty("dim").GetInt32(), root.GetProperty("samples").GetInt32(),
            root.GetProperty("mu").GetDouble(), root.GetProperty("L").GetDouble(), edges, D("a"), D("y"), D("x0")), root);
    }

    [Fact]
    public void TwoHundredEventsMatchTheFloat64ReferenceInAllSixBlocks()
    {
        var (p, root) = Load();
        var dadao = new Dadao(p.Nodes, p.Edges, p.X0, p.Gradient, p.L, p.Mu);
        Assert.Equal(root.GetProperty("chi1").GetDouble(), dadao.Chi1, 1e-10);
        Assert.Equal(root.GetProperty("chi2").GetDouble(), dadao.Chi2, 1e-10);
        var events = root.GetProperty("events").EnumerateArray()
            .Select(e => new EventSimulatorEvent(e.GetProperty("t").GetDouble(), e.GetProperty("kind").GetString() == "g", e.GetProperty("i").GetInt32(), e.GetProperty("j").GetInt32()))
            .ToArray();
        Assert.Equal(200, events.Length);
        var checkpoints = root.GetProperty("checkpoints").EnumerateArray().ToDictionary(c => c.GetProperty("after").GetInt32(), c => c.GetProperty("state").EnumerateArray().Select(v => v.GetDouble()).ToArray());
        for (int k = 0; k < events.Length; k++)
        {
            dadao.Apply(events[k]);
            if (!checkpoints.TryGetValue(k + 1, out var expected)) continue;
            // Nodes not in an event are stored as of their last event, exactly as the reference keeps them.
            for (int i = 0; i < p.Nodes; i++)
                for (int b = 0; b < 6; b++)
                {
                    var block = dadao.Block(i, b);
                    for (int c = 0; c < p.Dim; c++)
                    {
                        double e = expected[(i * 6 + b) * p.Dim + c];
                        Assert.True(Math.Abs(block[c] - e) <= 1e-10 * (1 + Math.Abs(e)), FormattableString.Invariant($"after event {k + 1}, node {i}, block {b}[{c}]: expected {e}, got {block[c]}"));
                    }
                }
        }
        Assert.Equal(events.Count(e => e.IsGradient), dadao.GradientEvents);
    }

    [Fact]
    public void ConvergesToTheMinimiserOfTheSumOnSimulatedPoissonClocks()
    {
        // Linear convergence (strongly convex, L/μ ≈ 8, 6 nodes): after ~10000 events every node sits at the minimiser
        // of Σ f_i, where the summed gradient vanishes.
        var (p, _) = Load();
        var dadao = new Dadao(p.Nodes, p.Edges, p.X0, p.Gradient, p.L, p.Mu);
        var events = EventSimulator.PoissonClocks(p.Nodes, p.Edges, dadao.GradientRate, dadao.CommunicationRate, horizon: 800, seed: 3);
        dadao.Run(events);
        var g = new double[p.Dim];
        for (int i = 0; i < p.Nodes; i++)
        {
            var x = dadao.X(i);
            var sum = new double[p.Dim];
            for (int j = 0; j < p.Nodes; j++) { p.Gradient(j, x, g); for (int c = 0; c < p.Dim; c++) sum[c] += g[c]; }
            Assert.True(Math.Sqrt(sum.Sum(v => v * v)) < 1e-6, FormattableString.Invariant($"node {i}: ‖Σ∇f_j(x_i)‖ = {Math.Sqrt(sum.Sum(v => v * v))}"));
        }
    }

    [Fact]
    public void EventListsAreSeededOrderedAndRoundTripThroughCsv()
    {
        var edges = new[] { (0, 1), (1, 2), (2, 0) };
        var a = EventSimulator.PoissonClocks(3, edges, 3.0, 1.5, 400, seed: 9);
        var b = EventSimulator.PoissonClocks(3, edges, 3.0, 1.5, 400, seed: 9);
        Assert.Equal(a, b);
        Assert.True(a.Zip(a.Skip(1)).All(t => t.First.Time <= t.Second.Time));
        // Poisson counts: mean 1200 and 600, standard deviations ≈ 35 and 24; 5σ bounds.
        int gradients = a.Count(e => e.IsGradient), communications = a.Count - gradients;
        Assert.InRange(gradients, 1200 - 175, 1200 + 175);
        Assert.InRange(communications, 600 - 125, 600 + 125);
        Assert.All(a.Where(e => !e.IsGradient), e => Assert.Contains((e.Node, e.Peer), edges));
        Assert.Equal(a, EventSimulator.FromCsv(EventSimulator.ToCsv(a)));
        Assert.Throws<FormatException>(() => EventSimulator.FromCsv("time,kind,node,peer\n1.0,x,0,1\n"));
    }

    [Fact]
    public void BadInputIsRejected()
    {
        var (p, _) = Load();
        Assert.Throws<ArgumentException>(() => Dadao.GraphConstants(4, new[] { (0, 1), (2, 3) })); // two components
        var dadao = new Dadao(p.Nodes, p.Edges, p.X0, p.Gradient, p.L, p.Mu);
        dadao.Apply(new EventSimulatorEvent(1.0, true, 0, -1));
        var e = Assert.Throws<ArgumentException>(() => dadao.Apply(new EventSimulatorEvent(0.5, true, 1, -1)));
        Assert.Contains("time order", e.Message);
        Assert.Throws<ArgumentException>(() => dadao.Apply(new EventSimulatorEvent(2.0, false, 1, 4))); // (1, 4) is not an edge
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dadao(p.Nodes, p.Edges, p.X0, p.Gradient, 1.0, 2.0)); // μ > L
        // Matrix exponential against a closed form: exp([[0, 1], [−1, 0]]·t) is a rotation.
        var r = Dadao.MatrixExponential(new double[,] { { 0, 1 }, { -1, 0 } }, 7.3);
        Assert.Equal(Math.Cos(7.3), r[0, 0], 1e-13);
        Assert.Equal(Math.Sin(7.3), r[0, 1], 1e-13);
    }
}
