using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.MultiTask;

/// <summary>
/// A balancer that needs every task's gradient (MGDA, MGDA-UB, PCGrad, MultiBalance): the base gathers them in either
/// mode as the rows of one float64 matrix G (T×P, on the parameters' device; one backward per task: through the whole
/// model on shared parameters, through the heads only on the shared representation) and asks <see cref="Combine"/>
/// for the direction, which it writes into the shared parameters' gradients or propagates through the trunk. The
/// heads keep their unweighted task gradients in both modes.
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

    /// <summary>The method itself: from the task gradients (the rows of <paramref name="gradients"/>, float64, T×P) and
    /// the task losses, the combined direction (float64, length P; the caller disposes it) and the weights applied
    /// (null when the result is not a weighted sum). State (moving averages, random order) may change here: it is
    /// called only after every input check has passed.</summary>
    protected abstract (Tensor Direction, double[]? Weights) Combine(Tensor gradients, double[] losses);

    /// <inheritdoc />
    protected sealed override BalanceReport BackwardSharedParameters(IReadOnlyList<Tensor> losses, double[] values, IReadOnlyList<Tensor> shared)
    {
        int t = losses.Count;
        // What the shared gradients held before the call: the combination is added to it, as a backward would.
        var before = shared.Select(p => p.grad is null ? null : p.grad.detach().clone()).ToArray();
        var rows = new Tensor[t];
        try
        {
            for (int k = 0; k < t; k++)
            {
                foreach (var p in shared) p.grad?.zero_();
                losses[k].backward(retain_graph: k < t - 1);
                rows[k] = cat(shared.Select(p => p.grad is { } g ? g.detach().reshape(-1) : zeros(p.numel(), dtype: p.dtype, device: p.device)).ToArray())
                    .to(ScalarType.Float64);
            }
        }
        catch
        {
            Restore(shared, before);
            foreach (var r in rows) r?.Dispose();
            throw;
        }
        double[]? weights;
        using (var g = stack(rows))
        {
            foreach (var r in rows) r.Dispose();
            Tensor direction;
            (direction, weights) = Combine(g, values);
            using (direction)
            using (var s = new ScalarHold())
            {
                long offset = 0;
                for (int i = 0; i < shared.Count; i++)
                {
                    var p = shared[i];
                    long n = p.numel();
                    using var d = direction.narrow(0, offset, n).reshape(p.shape).to(p.dtype);
                    offset += n;
                    if (before[i] is { } b) d.add_(b, s[1]);
                    if (p.grad is { } pg) pg.copy_(d);
                    else p.grad = d.clone();
                    before[i]?.Dispose();
                }
            }
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
        var rows = new Tensor[t];
        for (int k = 0; k < t; k++)
        {
            detached.grad?.zero_();
            losses[k].backward(retain_graph: k < t - 1);
            rows[k] = detached.grad is { } g ? g.detach().reshape(-1).to(ScalarType.Float64).clone()
                : zeros(detached.numel(), dtype: ScalarType.Float64, device: detached.device);
        }
        double[]? weights;
        using (var g = stack(rows))
        {
            foreach (var r in rows) r.Dispose();
            var (direction, w) = Combine(g, values);
            weights = w;
            using (direction)
            using (var dz = direction.reshape(representation.shape).to(representation.dtype))
                representation.backward(new[] { dz });
        }
        TaskCount = t;
        LastWeights = weights;
        return new BalanceReport(values, weights, 0, t, 1, 0);
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

    /// <summary>The Gram matrix M_st = ⟨g_s, g_t⟩ of the rows of <paramref name="g"/>, in float64 on the CPU.</summary>
    protected static double[,] Gram(Tensor g)
    {
        int t = (int)g.shape[0];
        using var m = g.mm(g.t()).cpu().contiguous();
        var flat = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(m.bytes);
        var r = new double[t, t];
        for (int i = 0; i < t; i++)
            for (int j = 0; j < t; j++) r[i, j] = 0.5 * (flat[i * t + j] + flat[j * t + i]);   // exactly symmetric
        return r;
    }

    /// <summary>Σ_t w_t g_t for the rows g_t of <paramref name="g"/>.</summary>
    protected static Tensor Weighted(Tensor g, double[] w)
    {
        using var wt = tensor(w, dtype: ScalarType.Float64, device: g.device);
        return wt.matmul(g);
    }
}
