using static TorchSharp.torch;

namespace SharpOptim.Distributed;

/// <summary>
/// The flat-vector pieces every algorithm of the family shares: one gossip round through <see cref="ICommunicator"/>,
/// a local stochastic gradient at a given point, soft-thresholding, and the checks every constructor makes.
/// Arithmetic on vectors is float32 storage with float64 accumulation, one rounding per element per operation.
/// </summary>
internal static class DistributedKernels
{
    /// <summary>
    /// x ← W_ii x + Σ_j W_ij x_j over the round's in-neighbours, combined in ascending rank order in float64 (so the
    /// result does not depend on message timing). Sends x to every out-neighbour.
    /// </summary>
    public static void Mix(ICommunicator comm, Topology topology, int round, Span<float> x, int tag, ref float[]? scratch)
    {
        var nb = topology.Neighbours(comm.Rank, round);
        if (nb.In.Count == 0 && nb.Out.Count == 0) return; // W_ii = 1: nothing to exchange
        int d = x.Length;
        int need = nb.In.Count * d;
        if (scratch is null || scratch.Length < need) scratch = new float[need];
        var received = scratch.AsSpan(0, need);
        comm.NeighbourExchange(x, nb.Out, nb.In, received, tag);
        for (int e = 0; e < d; e++)
        {
            double s = nb.SelfWeight * x[e];
            for (int k = 0; k < nb.In.Count; k++) s += nb.InWeights[k] * received[k * d + e];
            x[e] = (float)s;
        }
    }

    /// <summary>
    /// Loads <paramref name="at"/> into the worker's model, draws its next mini-batch, back-propagates and writes the
    /// gradient (times <paramref name="scale"/>) into <paramref name="gradient"/>; returns the mini-batch loss.
    /// </summary>
    public static double Gradient(WorkerProblem problem, ReadOnlySpan<float> at, Span<float> gradient, double scale = 1)
    {
        problem.SetParameters(at);
        return GradientAtCurrent(problem, gradient, scale);
    }

    /// <summary>As <see cref="Gradient"/> at the model's current parameters.</summary>
    public static double GradientAtCurrent(WorkerProblem problem, Span<float> gradient, double scale = 1)
    {
        double loss;
        using (var scope = NewDisposeScope())
        {
            foreach (var p in problem.Parameters) p.grad?.zero_();
            var l = problem.NextLoss();
            l.backward();
            loss = l.detach().cpu().to(ScalarType.Float64).item<double>();
        }
        problem.CopyGradientsTo(gradient);
        if (scale != 1)
            for (int i = 0; i < gradient.Length; i++) gradient[i] = (float)(gradient[i] * scale);
        return loss;
    }

    /// <summary>prox of c‖·‖₁: sign(v)·max(|v| − c, 0), element-wise, into <paramref name="into"/>.</summary>
    public static void SoftThreshold(ReadOnlySpan<float> v, double c, Span<float> into)
    {
        for (int i = 0; i < v.Length; i++)
        {
            double a = v[i];
            into[i] = a > c ? (float)(a - c) : a < -c ? (float)(a + c) : 0f;
        }
    }

    /// <summary>Rank 0's parameters to every rank, so that all workers start from one point.</summary>
    public static float[] CommonStart(WorkerProblem problem, ICommunicator comm)
    {
        var x = new float[problem.Length];
        problem.CopyParametersTo(x);
        if (comm.Size > 1) comm.Broadcast(x, 0);
        problem.SetParameters(x);
        return x;
    }

    public static void CheckWorld(ICommunicator comm, Topology? topology, string who)
    {
        ArgumentNullException.ThrowIfNull(comm);
        if (topology is not null && topology.Size != comm.Size)
            throw new ArgumentException(FormattableString.Invariant($"{who}: the topology '{topology.Name}' has {topology.Size} workers but the communicator's world has {comm.Size} ranks."), nameof(topology));
    }

    public static void CheckPositive(double value, string name, string who)
    {
        if (!(value > 0) || !double.IsFinite(value))
            throw new ArgumentOutOfRangeException(name, value, FormattableString.Invariant($"{who}: {name} must be positive and finite; got {value}."));
    }

    public static void CheckNonNegative(double value, string name, string who)
    {
        if (!(value >= 0) || !double.IsFinite(value))
            throw new ArgumentOutOfRangeException(name, value, FormattableString.Invariant($"{who}: {name} must be non-negative and finite; got {value}."));
    }
}
