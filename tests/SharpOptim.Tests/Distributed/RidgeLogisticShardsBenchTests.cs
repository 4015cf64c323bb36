using SharpOptim.Distributed;
using SharpOptim.Tasks.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

/// <summary>
/// The problem of the GT bias-floor miniature of <c>bench distributed</c>: its float64 closed-form objective and
/// gradient (what x* is solved with) agree with TorchSharp autograd of the workers' own losses, and the shards are the
/// sorted-label split the brief asks for.
/// </summary>
public class RidgeLogisticShardsBenchTests
{
    [Fact]
    public void ClosedFormGradientMatchesTheWorkersAutograd()
    {
        const int n = 8;
        using var task = new RidgeLogisticShards(n, 1e-2, seed: 0);
        Assert.Equal(650, task.Length);
        // Sorted-label shards: a partition of the training rows, one or two classes per worker (three where a class boundary falls).
        Assert.Equal(1437, task.Shards.Sum(s => s.Length));
        Assert.Equal(1437, task.Shards.SelectMany(s => s).Distinct().Count());
        Assert.All(Enumerable.Range(0, n), r => Assert.InRange(task.LabelsOf(r).Length, 1, 3));

        var rng = new Random(5);
        var x = Enumerable.Range(0, task.Length).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var mean = new double[task.Length];
        double meanLoss = 0;
        for (int r = 0; r < n; r++)
        {
            var worker = task.CreateWorker(r);
            worker.SetParameters(x);
            foreach (var p in worker.Parameters) p.grad?.zero_();
            using (var loss = worker.NextLoss())
            {
                loss.backward();
                meanLoss += loss.item<float>() / n;
            }
            var g = new float[worker.Length];
            worker.CopyGradientsTo(g);
            for (int i = 0; i < g.Length; i++) mean[i] += g[i] / (double)n;
        }
        var reference = new double[task.Length];
        double value = task.ValueAndGradient(x.Select(v => (double)v).ToArray(), reference);
        // float32 autograd against float64 closed form: agreement to float32 rounding of sums of ~200 terms.
        Assert.Equal(value, meanLoss, 1e-5);
        for (int i = 0; i < reference.Length; i++) Assert.True(Math.Abs(reference[i] - mean[i]) <= 1e-5, $"entry {i}: {reference[i]} vs {mean[i]}");
    }

    [Fact]
    public void NewtonSolutionIsWhereTheWorkersMeanGradientVanishes()
    {
        // ℓ2 = 0.1 keeps Newton short. x* must make the workers' own (float32 autograd) mean gradient vanish to float32
        // rounding, and its float64 gradient norm must be what Solve reports.
        const int n = 4;
        using var task = new RidgeLogisticShards(n, 0.1, seed: 1);
        var (x, norm) = task.Solve();
        Assert.True(norm <= 1e-11, $"‖∇f(x*)‖ = {norm}");
        var g64 = new double[task.Length];
        task.ValueAndGradient(x, g64);
        Assert.Equal(norm, Math.Sqrt(g64.Sum(v => v * v)), 1e-15);
        var xf = x.Select(v => (float)v).ToArray();
        var mean = new double[task.Length];
        for (int r = 0; r < n; r++)
        {
            var worker = task.CreateWorker(r);
            worker.SetParameters(xf);
            foreach (var p in worker.Parameters) p.grad?.zero_();
            using (var loss = worker.NextLoss()) loss.backward();
            var g = new float[worker.Length];
            worker.CopyGradientsTo(g);
            for (int i = 0; i < g.Length; i++) mean[i] += g[i] / (double)n;
        }
        Assert.True(mean.Max(Math.Abs) <= 1e-5, $"largest mean-gradient entry at x*: {mean.Max(Math.Abs)}");
        // Not trivially zero: the individual workers' gradients at x* are large (heterogeneous shards).
        var w0 = task.CreateWorker(0);
        w0.SetParameters(xf);
        using (var loss = w0.NextLoss()) loss.backward();
        var g0 = new float[w0.Length];
        w0.CopyGradientsTo(g0);
        Assert.True(g0.Max(Math.Abs) > 1e-2);
    }

    [Fact]
    public void BadSettingsFail()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RidgeLogisticShards(0, 1e-3, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RidgeLogisticShards(4, 0, 0));
        using var task = new RidgeLogisticShards(4, 1e-3, 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => task.CreateWorker(4));
    }
}
