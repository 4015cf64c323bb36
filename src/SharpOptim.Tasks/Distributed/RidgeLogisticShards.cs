using SharpOptim.Distributed;
using SharpOptim.Optimizers;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// The gradient-tracking miniature's problem (../shared/papers/distributed.md §3): multinomial logistic regression
/// (64 → 10, weights and biases) on the scikit-learn digits training rows, split over n workers by sorted labels
/// (<see cref="DataPartition"/>'s pathological scheme with one label-sorted shard per worker, so each worker sees one
/// or two classes), with f_i(x) = mean cross-entropy over worker i's whole shard + (ℓ2/2)‖x‖² and the network objective
/// f = (1/n) Σ_i f_i. Local gradients are full (deterministic), so D-SGD's remaining error is the heterogeneity bias
/// alone. <see cref="Solve"/> finds x* = argmin f independently of TorchSharp: Newton's method in float64 with the
/// closed-form softmax Hessian and a Cholesky solve, to a gradient norm near double rounding.
/// </summary>
public sealed class RidgeLogisticShards : IDisposable
{
    private const int Features = 64, Classes = 10, Width = Features + 1;
    private readonly ClassificationData _data;
    private readonly float[] _x;
    private readonly int[] _y;

    /// <summary>Digits split over <paramref name="workers"/> by sorted labels (tie order seeded by <paramref name="seed"/>).</summary>
    public RidgeLogisticShards(int workers, double l2, int seed)
    {
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "at least one worker.");
        if (!(l2 > 0) || !double.IsFinite(l2)) throw new ArgumentOutOfRangeException(nameof(l2), l2, "the ℓ2 weight must be positive and finite (it makes x* unique).");
        _data = Digits.Load();
        _x = _data.TrainX.contiguous().data<float>().ToArray();
        _y = _data.TrainY.data<long>().Select(v => (int)v).ToArray();
        Workers = workers;
        L2 = l2;
        Shards = DataPartition.Split(_y, workers, "pathological", seed, classesPerWorker: 1);
    }

    /// <summary>Number of workers.</summary>
    public int Workers { get; }

    /// <summary>The ℓ2 weight.</summary>
    public double L2 { get; }

    /// <summary>Every worker's training rows.</summary>
    public IReadOnlyList<int[]> Shards { get; }

    /// <summary>Parameters: 10×64 weights (row-major, as nn.Linear's) then 10 biases.</summary>
    public int Length => Classes * Width;

    /// <summary>Distinct labels of worker <paramref name="rank"/>'s shard.</summary>
    public int[] LabelsOf(int rank) => Shards[rank].Select(r => _y[r]).Distinct().Order().ToArray();

    /// <summary>Worker <paramref name="rank"/>'s problem: a 64-10 <see cref="Mlp"/> at zero, loss f_i on its whole shard.</summary>
    public WorkerProblem CreateWorker(int rank)
    {
        if (rank < 0 || rank >= Workers) throw new ArgumentOutOfRangeException(nameof(rank), rank, FormattableString.Invariant($"rank must lie in [0, {Workers})."));
        var model = new Mlp(Features, Classes);
        var rows = Shards[rank].Select(r => (long)r).ToArray();
        Tensor x, y;
        using (var idx = tensor(rows, ScalarType.Int64))
        {
            x = _data.TrainX.index_select(0, idx);
            y = _data.TrainY.index_select(0, idx);
        }
        double half = L2 / 2;
        var problem = new WorkerProblem(model, () =>
        {
            using var s = new ScalarHold();
            using var logits = model.forward(x);
            var loss = nn.functional.cross_entropy(logits, y);
            foreach (var p in model.parameters()) loss = loss.add(p.mul(p).sum(), s[half]);
            return loss;
        });
        problem.SetParameters(new float[problem.Length]);
        return problem;
    }

    /// <summary>f(x) and ∇f(x) in float64 (x in <see cref="Length"/> order).</summary>
    public double ValueAndGradient(ReadOnlySpan<double> x, Span<double> gradient)
    {
        gradient.Clear();
        double value = 0;
        var p = new double[Classes];
        for (int w = 0; w < Workers; w++)
        {
            var shard = Shards[w];
            double weight = 1.0 / (Workers * shard.Length);
            foreach (int r in shard)
            {
                double lse = Probabilities(x, r, p);
                value += weight * (lse - Logit(x, r, _y[r]));
                for (int c = 0; c < Classes; c++)
                {
                    double e = weight * (p[c] - (c == _y[r] ? 1 : 0));
                    for (int f = 0; f < Features; f++) gradient[c * Features + f] += e * _x[r * Features + f];
                    gradient[Classes * Features + c] += e;
                }
            }
        }
        for (int i = 0; i < x.Length; i++)
        {
            value += L2 / 2 * x[i] * x[i];
            gradient[i] += L2 * x[i];
        }
        return value;
    }

    /// <summary>
    /// x* = argmin f by damped Newton in float64 from zero: the exact Hessian Σ_r w_r (diag p − p pᵀ) ⊗ x̃ x̃ᵀ + ℓ2·I,
    /// a Cholesky solve, and a backtracking line search (Armijo, or a smaller gradient norm once f's decrease is below
    /// double rounding); stops when ‖∇f‖ ≤ <paramref name="tolerance"/> (so that
    /// ‖x − x*‖ ≤ ‖∇f‖/ℓ2), or after 50 iterations. Returns x and ‖∇f(x)‖.
    /// </summary>
    public (double[] Solution, double GradientNorm) Solve(double tolerance = 1e-11)
    {
        int d = Length;
        var x = new double[d];
        var g = new double[d];
        var trial = new double[d];
        var gt = new double[d];
        double value = ValueAndGradient(x, g);
        double norm = Norm(g);
        var p = new double[Classes];
        for (int it = 0; it < 50 && norm > tolerance; it++)
        {
            var h = new double[d, d];
            // Per class pair (a ≤ b): G_ab = Σ_r w_r (δ_ab p_a − p_a p_b) x̃_r x̃_rᵀ, accumulated in a flat 65×65 block.
            var blocks = new double[Classes * Classes][];
            for (int a = 0; a < Classes; a++)
                for (int b = a; b < Classes; b++) blocks[a * Classes + b] = new double[Width * Width];
            var xt = new double[Width];
            for (int w = 0; w < Workers; w++)
            {
                double weight = 1.0 / (Workers * Shards[w].Length);
                foreach (int r in Shards[w])
                {
                    Probabilities(x, r, p);
                    for (int f = 0; f < Features; f++) xt[f] = _x[r * Features + f];
                    xt[Features] = 1;
                    for (int a = 0; a < Classes; a++)
                        for (int b = a; b < Classes; b++)
                        {
                            double s = weight * ((a == b ? p[a] : 0) - p[a] * p[b]);
                            var block = blocks[a * Classes + b];
                            for (int i = 0; i < Width; i++)
                            {
                                double si = s * xt[i];
                                if (si == 0) continue;
                                int o = i * Width;
                                for (int j = 0; j < Width; j++) block[o + j] += si * xt[j];
                            }
                        }
                }
            }
            for (int a = 0; a < Classes; a++)
                for (int b = a; b < Classes; b++)
                {
                    var block = blocks[a * Classes + b];
                    for (int i = 0; i < Width; i++)
                        for (int j = 0; j < Width; j++)
                        {
                            h[Index(a, i), Index(b, j)] = block[i * Width + j];
                            h[Index(b, j), Index(a, i)] = block[i * Width + j];
                        }
                }
            for (int i = 0; i < d; i++) h[i, i] += L2;
            var step = CholeskySolve(h, g);
            double t = 1;
            double slope = 0;
            for (int i = 0; i < d; i++) slope += g[i] * step[i];
            while (true)
            {
                for (int i = 0; i < d; i++) trial[i] = x[i] - t * step[i];
                double v = ValueAndGradient(trial, gt);
                // Armijo, or (near x*, where f's decrease is below double rounding) a smaller gradient.
                if (v <= value - 1e-4 * t * slope || Norm(gt) < norm || t < 1e-10)
                {
                    trial.CopyTo(x, 0);
                    gt.CopyTo(g, 0);
                    value = v;
                    break;
                }
                t /= 2;
            }
            norm = Norm(g);
        }
        return (x, norm);
    }

    private static int Index(int cls, int feature) => feature < Features ? cls * Features + feature : Classes * Features + cls;

    private double Logit(ReadOnlySpan<double> x, int row, int cls)
    {
        double z = x[Classes * Features + cls];
        for (int f = 0; f < Features; f++) z += x[cls * Features + f] * _x[row * Features + f];
        return z;
    }

    // Softmax probabilities of a row into p; returns log Σ exp(logits).
    private double Probabilities(ReadOnlySpan<double> x, int row, double[] p)
    {
        double max = double.NegativeInfinity;
        for (int c = 0; c < Classes; c++) max = Math.Max(max, p[c] = Logit(x, row, c));
        double sum = 0;
        for (int c = 0; c < Classes; c++) sum += p[c] = Math.Exp(p[c] - max);
        for (int c = 0; c < Classes; c++) p[c] /= sum;
        return max + Math.Log(sum);
    }

    private static double Norm(ReadOnlySpan<double> v)
    {
        double s = 0;
        foreach (double e in v) s += e * e;
        return Math.Sqrt(s);
    }

    private static double[] CholeskySolve(double[,] a, ReadOnlySpan<double> b)
    {
        int n = b.Length;
        var l = new double[n, n];
        for (int j = 0; j < n; j++)
        {
            double s = a[j, j];
            for (int k = 0; k < j; k++) s -= l[j, k] * l[j, k];
            if (!(s > 0)) throw new InvalidOperationException("the Hessian is not positive definite (ℓ2 > 0 should make it so).");
            l[j, j] = Math.Sqrt(s);
            for (int i = j + 1; i < n; i++)
            {
                double t = a[i, j];
                for (int k = 0; k < j; k++) t -= l[i, k] * l[j, k];
                l[i, j] = t / l[j, j];
            }
        }
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            double s = b[i];
            for (int k = 0; k < i; k++) s -= l[i, k] * y[k];
            y[i] = s / l[i, i];
        }
        var x = new double[n];
        for (int i = n - 1; i >= 0; i--)
        {
            double s = y[i];
            for (int k = i + 1; k < n; k++) s -= l[k, i] * x[k];
            x[i] = s / l[i, i];
        }
        return x;
    }

    /// <inheritdoc />
    public void Dispose() => _data.Dispose();
}
