using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.MultiTask;

/// <summary>
/// A balancer that needs every task's gradient (MGDA, MGDA-UB, PCGrad, MultiBalance): the base gathers them in either
/// mode as float64 vectors (one backward per task: through the whole model on shared parameters, through the heads only
/// on the shared representation) and asks <see cref="Combine"/> for the direction, which it writes into the shared
/// parameters' gradients or propagates through the trunk. The heads keep their unweighted task gradients in both modes.
/// </summary>
public abstract class TaskGradientBalancer : GradientBalancer
{
    private readonly BalancingMode _mode;
    private readonly bool _both;

    /// <summary>Creates the balancer for <paramref name="preferred"/> mode; <paramref name="bothModes"/> allows the other too.</summary>
    protected TaskGradientBalancer(BalancingMode preferred, bool bothModes)
    {
        _mode = preferred;
        _both = bothModes;
    }

    /// <inheritdoc />
    public override BalancingMode PreferredMode => _mode;
    /// <inheritdoc />
    public override bool SupportsSharedParameters => _both || _mode == BalancingMode.SharedParameters;
    /// <inheritdoc />
    public override bool SupportsSharedRepresentation => _both || _mode == BalancingMode.SharedRepresentation;

    /// <summary>The method itself: from the T task gradients (float64, all of one length) and the task losses, the
    /// combined direction (same length) and the weights applied (null when the result is not a weighted sum). State
    /// (moving averages, random order) may change here: it is called only after every input check has passed.</summary>
    protected abstract (double[] Direction, double[]? Weights) Combine(double[][] gradients, double[] losses);

    /// <inheritdoc />
    protected sealed override BalanceReport BackwardSharedParameters(IReadOnlyList<Tensor> losses, double[] values, IReadOnlyList<Tensor> shared)
    {
        int t = losses.Count;
        long total = shared.Sum(p => p.numel());
        // What the shared gradients held before the call: the combination is added to it, as a backward would.
        var before = shared.Select(p => p.grad is null ? null : p.grad.detach().clone()).ToArray();
        var g = new double[t][];
        try
        {
            for (int k = 0; k < t; k++)
            {
                foreach (var p in shared) p.grad?.zero_();
                losses[k].backward(retain_graph: k < t - 1);
                g[k] = Gather(shared, total);
            }
        }
        catch
        {
            Restore(shared, before);
            throw;
        }
        var (direction, weights) = Combine(g, values);
        using var s = new ScalarHold();
        long offset = 0;
        for (int i = 0; i < shared.Count; i++)
        {
            var p = shared[i];
            using var d = Shaped(direction, offset, p);
            offset += p.numel();
            if (before[i] is { } b) d.add_(b, s[1]);
            if (p.grad is null) p.grad = d.clone();
            else p.grad.copy_(d);
            before[i]?.Dispose();
        }
        TaskCount = t;
        LastWeights = weights;
        return new BalanceReport(values, weights, t, 0, 0, 0);
    }

    /// <inheritdoc />
    protected sealed override BalanceReport BackwardSharedRepresentation(Tensor representation, Tensor detached,
        Func<Tensor, IReadOnlyList<Tensor>> heads, IReadOnlyList<Tensor> losses, double[] values)
    {
        int t = losses.Count;
        long n = detached.numel();
        var r = new double[t][];
        for (int k = 0; k < t; k++)
        {
            detached.grad?.zero_();
            losses[k].backward(retain_graph: k < t - 1);
            r[k] = Flat(detached.grad, n);
        }
        var (direction, weights) = Combine(r, values);
        using (var dz = Shaped(direction, 0, representation))
            representation.backward(new[] { dz });
        TaskCount = t;
        LastWeights = weights;
        return new BalanceReport(values, weights, 0, t, 1, 0);
    }

    private static double[] Gather(IReadOnlyList<Tensor> shared, long total)
    {
        var all = new double[total];
        long offset = 0;
        foreach (var p in shared)
        {
            var f = Flat(p.grad, p.numel());
            f.CopyTo(all, offset);
            offset += f.Length;
        }
        return all;
    }

    private static void Restore(IReadOnlyList<Tensor> shared, Tensor?[] before)
    {
        for (int i = 0; i < shared.Count; i++)
        {
            if (before[i] is { } b)
            {
                if (shared[i].grad is { } g) { g.copy_(b); b.Dispose(); }
                else shared[i].grad = b;
            }
            else shared[i].grad?.zero_();
        }
    }

    /// <summary>⟨a, b⟩ in float64.</summary>
    protected static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>The Gram matrix M_st = ⟨g_s, g_t⟩ (float64).</summary>
    protected static double[,] Gram(double[][] g)
    {
        int t = g.Length;
        var m = new double[t, t];
        for (int i = 0; i < t; i++)
            for (int j = i; j < t; j++)
                m[i, j] = m[j, i] = Dot(g[i], g[j]);
        return m;
    }

    /// <summary>Σ_t w_t g_t.</summary>
    protected static double[] Weighted(double[][] g, double[] w)
    {
        var d = new double[g[0].Length];
        for (int k = 0; k < g.Length; k++)
        {
            double wk = w[k];
            if (wk == 0) continue;
            var gk = g[k];
            for (int i = 0; i < d.Length; i++) d[i] += wk * gk[i];
        }
        return d;
    }
}
