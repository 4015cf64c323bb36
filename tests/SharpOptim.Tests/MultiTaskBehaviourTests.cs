using SharpOptim.MultiTask;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>Exact invariants of the balancers (agreeing tasks, equal weights in both modes) and their handling of bad input.</summary>
public class MultiTaskBehaviourTests
{
    /// <summary>A float64 trunk Linear 4 → 3 (tanh) with three heads Linear 3 → 2, losses mean((head_t(z) − target_t)²).</summary>
    private sealed class Net : IDisposable
    {
        public readonly Tensor W, B;
        public readonly Tensor[] H;
        public readonly Tensor X;
        public readonly Tensor[] Targets;
        public Net(int tasks = 3, bool sameTask = false)
        {
            var gen = new Generator(5);
            W = randn(new long[] { 3, 4 }, dtype: ScalarType.Float64, generator: gen).requires_grad_(true);
            B = randn(new long[] { 3 }, dtype: ScalarType.Float64, generator: gen).requires_grad_(true);
            var h0 = randn(new long[] { 2, 3 }, dtype: ScalarType.Float64, generator: gen);
            H = Enumerable.Range(0, tasks).Select(_ => (sameTask ? h0.clone() : randn(new long[] { 2, 3 }, dtype: ScalarType.Float64, generator: gen)).requires_grad_(true)).ToArray();
            X = randn(new long[] { 5, 4 }, dtype: ScalarType.Float64, generator: gen);
            var t0 = randn(new long[] { 5, 2 }, dtype: ScalarType.Float64, generator: gen);
            Targets = Enumerable.Range(0, tasks).Select(_ => sameTask ? t0.clone() : randn(new long[] { 5, 2 }, dtype: ScalarType.Float64, generator: gen)).ToArray();
        }
        public Tensor Trunk() => tanh(X.matmul(W.t()) + B);
        public IReadOnlyList<Tensor> Losses(Tensor z) => H.Select((h, t) => (z.matmul(h.t()) - Targets[t]).pow(2).mean()).ToArray();
        public IReadOnlyList<Tensor> Shared => new[] { W, B };
        public double[] Grads(IEnumerable<Tensor> ps) => ps.SelectMany(p => p.grad is null ? new double[p.numel()] : p.grad.data<double>().ToArray()).ToArray();
        public double[] AllGrads() => Grads(Shared.Concat(H));
        public void ZeroGrad() { foreach (var p in Shared.Concat(H)) p.grad?.zero_(); }
        public void Dispose() { foreach (var p in Shared.Concat(H)) p.Dispose(); }
    }

    private static void Close(double[] a, double[] b, double tol, string what)
    {
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= tol * Math.Max(1, Math.Abs(a[i])), $"{what}[{i}]: {b[i]:R} vs {a[i]:R}");
    }

    private static GradientBalancer[] All(int tasks) => new GradientBalancer[]
    {
        new EqualWeights(tasks), new Mgda(), new MgdaUb(), new PCGrad(), new MultiBalance(), new Marigold(),
    };

    private static BalanceReport Step(GradientBalancer b, Net n) =>
        b.PreferredMode == BalancingMode.SharedParameters ? b.Backward(n.Losses(n.Trunk()), n.Shared) : b.Backward(n.Trunk(), n.Losses);

    [Fact]
    public void WhenEveryTaskIsTheSameTaskTheBalancersGiveItsPlainGradient()
    {
        // Identical tasks: g_t = g for every t. Min-norm methods return g (any w on the simplex), PCGrad finds no conflict
        // and returns Σ g_t = T g, EW the same sum; MARIGOLD's first step uses uniform weights, hence g.
        using var single = new Net(tasks: 3, sameTask: true);
        single.Losses(single.Trunk())[0].backward();
        var g = single.Grads(single.Shared);
        foreach (var b in All(3))
        {
            using var n = new Net(tasks: 3, sameTask: true);
            Step(b, n);
            double factor = b is EqualWeights or PCGrad ? 3 : 1;
            Close(g.Select(v => v * factor).ToArray(), n.Grads(n.Shared), 1e-12, b.Name);
        }
    }

    [Fact]
    public void PCGradWithoutConflictsIsTheSumAndMgdaOfOneTaskIsItsGradient()
    {
        var g = new[] { new[] { 1.0, 2.0, 0.5 }, new[] { 0.5, 1.0, 3.0 }, new[] { 2.0, 0.1, 0.1 } };   // pairwise dot products > 0
        Assert.Equal(new[] { 3.5, 3.1, 3.6 }, new PCGrad().Project(g).Select(v => Math.Round(v, 12)).ToArray());
        Assert.Equal(0, new PCGrad().Project(new[] { g[0] }).Zip(g[0], (a, b) => a - b).Max(Math.Abs));
        // Two exactly opposed gradients: each is projected to zero, so PCGrad returns zero, and so does MGDA (w = ½, ½).
        var opposed = new[] { new[] { 1.0, -2.0 }, new[] { -1.0, 2.0 } };
        Assert.All(new PCGrad().Project(opposed), v => Assert.Equal(0, v, 15));
    }

    [Fact]
    public void EqualWeightsGiveTheSameGradientsInBothModes()
    {
        using var a = new Net();
        new EqualWeights(3).Backward(a.Losses(a.Trunk()), a.Shared);
        using var b = new Net();
        var report = new EqualWeights(3).Backward(b.Trunk(), b.Losses);
        Close(a.AllGrads(), b.AllGrads(), 1e-13, "EW representation vs parameters");
        Assert.Equal((0, 1, 1), (report.FullBackwardPasses, report.HeadBackwardPasses, report.TrunkBackwardPasses));
        // And the plain sum's backward is what EW computes.
        using var c = new Net();
        c.Losses(c.Trunk()).Aggregate((x, y) => x + y).backward();
        Close(c.AllGrads(), a.AllGrads(), 1e-13, "EW vs sum of losses");
    }

    [Fact]
    public void OneHotFixedWeightsTrainOneTaskAlone()
    {
        using var a = new Net();
        new FixedWeights(0, 1, 0).Backward(a.Losses(a.Trunk()), a.Shared);
        using var b = new Net();
        b.Losses(b.Trunk())[1].backward();
        Close(b.AllGrads(), a.AllGrads(), 1e-14, "one-hot");
    }

    [Fact]
    public void SharedGradientsAccumulateOntoWhatTheyHeldBefore()
    {
        using var a = new Net();
        using (var pre = a.Losses(a.Trunk())[0]) pre.backward();
        var before = a.Grads(a.Shared);
        new Mgda().Backward(a.Losses(a.Trunk()), a.Shared);
        using var b = new Net();
        new Mgda().Backward(b.Losses(b.Trunk()), b.Shared);
        Close(b.Grads(b.Shared).Zip(before, (x, y) => x + y).ToArray(), a.Grads(a.Shared), 1e-13, "accumulated");
    }

    [Fact]
    public void BadInputIsRefusedBeforeAnythingChanges()
    {
        foreach (var b in All(3))
        {
            using var n = new Net();
            bool shared = b.PreferredMode == BalancingMode.SharedParameters;
            // A first good step binds the task count and, for the stateful methods, sets their state.
            Step(b, n);
            var weightsBefore = b is Marigold mg ? mg.Weights : null;
            n.ZeroGrad();
            using (var seed = n.Losses(n.Trunk())[0]) seed.backward();
            var gradsBefore = n.AllGrads();

            void Refused(Func<BalanceReport> call, string expected)
            {
                var e = Assert.Throws<ArgumentException>(() => call());
                Assert.Contains(expected, e.Message);
                Close(gradsBefore, n.AllGrads(), 0, b.Name + " grads after refused call");
                if (b is Marigold m2) Assert.Equal(weightsBefore, m2.Weights);
            }
            Tensor Nan(Tensor l) => l.mul(tensor(double.NaN, dtype: ScalarType.Float64));
            if (shared)
            {
                Refused(() => b.Backward(Array.Empty<Tensor>(), n.Shared), "none");
                Refused(() => b.Backward(n.Losses(n.Trunk()), Array.Empty<Tensor>()), "shared parameter");
                Refused(() => b.Backward(n.Losses(n.Trunk()).Take(2).ToArray(), n.Shared), "3 tasks");
                Refused(() => { var l = n.Losses(n.Trunk()).ToArray(); l[1] = Nan(l[1]); return b.Backward(l, n.Shared); }, "Task 1's loss is NaN");
                Refused(() => { var l = n.Losses(n.Trunk()).ToArray(); l[2] = l[2].reshape(1).expand(2); return b.Backward(l, n.Shared); }, "scalar");
                Refused(() => b.Backward(n.Losses(n.Trunk()).Select(l => l.detach()).ToArray(), n.Shared), "does not require grad");
            }
            else
            {
                Refused(() => b.Backward(n.Trunk(), _ => Array.Empty<Tensor>()), "none");
                Refused(() => b.Backward(n.Trunk().detach(), n.Losses), "attached");
                Refused(() => b.Backward(n.Trunk(), z => n.Losses(z).Take(2).ToArray()), "3 tasks");
                Refused(() => b.Backward(n.Trunk(), z => { var l = n.Losses(z).ToArray(); l[0] = Nan(l[0]); return l; }), "Task 0's loss is NaN");
                Refused(() => b.Backward(n.Trunk(), z => { var l = n.Losses(z).ToArray(); l[1] = l[1].reshape(1).expand(3); return l; }), "scalar");
            }
        }
        Assert.Throws<NotSupportedException>(() => new MultiBalance().Backward(Array.Empty<Tensor>(), Array.Empty<Tensor>()));
        Assert.Throws<NotSupportedException>(() => new Mgda().Backward(zeros(2), _ => Array.Empty<Tensor>()));
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => new FixedWeights(1, -1)).Message);
        Assert.Contains("beta", Assert.Throws<ArgumentException>(() => new MultiBalance(beta: 1)).Message);
        Assert.Contains("stepSize", Assert.Throws<ArgumentException>(() => new Marigold(stepSize: 0)).Message);
        Assert.Contains("epsilon", Assert.Throws<ArgumentException>(() => new PCGrad(epsilon: double.NaN)).Message);
        Assert.Contains("task 0's has 3", Assert.Throws<ArgumentException>(() => new PCGrad().Project(new[] { new double[3], new double[2] })).Message);
        Assert.Throws<ArgumentException>(() => new PCGrad().Project(Array.Empty<double[]>()));
        Assert.Contains("at least one task", Assert.Throws<ArgumentException>(() => new EqualWeights(0)).Message);
        // Loss normalisation needs positive losses: checked before any backward pass.
        using var z0 = new Net();
        var zeroLoss = z0.Losses(z0.Trunk()).ToArray();
        zeroLoss[0] = zeroLoss[0].mul(tensor(0.0, dtype: ScalarType.Float64));
        Assert.Contains("positive", Assert.Throws<ArgumentException>(() => new Mgda(GradientNormalization.Loss).Backward(zeroLoss, z0.Shared)).Message);
        Assert.All(z0.AllGrads(), v => Assert.Equal(0, v));
    }
}
