using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// A multi-block bilevel problem (Hu, Qiu, Guo, Zhang and Yang, "Blockwise Stochastic Variance-Reduced Methods with
/// Parallel Speedup for Multi-Block Bilevel Optimization", ICML 2023, arXiv 2305.18730):
/// min_x Φ(x) = (1/m) Σ_{i=1}^m f_i(x, y_i*(x)), y_i*(x) = argmin_{y_i} g_i(x, y_i): m lower problems that share the
/// hyperparameters x, each with its own model parameters y_i. The blocks are stored as the rows of ONE leaf tensor
/// <see cref="Y"/> of shape [m, …] (block i is <c>Y[i]</c>), so the whole problem is also an ordinary
/// <see cref="BilevelProblem"/>, <see cref="Combined"/>: upper F(x, Y) = (1/m) Σ_i f_i(x, Y[i]), lower
/// G(x, Y) = Σ_i g_i(x, Y[i]) (the sum keeps each block's minimiser, and the block-diagonal Hessian makes
/// ∇Φ = ∇_x F − ∇²_xY G·[∇²_YY G]⁻¹∇_Y F equal the average of the blocks' hypergradients), on which every single-problem
/// method of this namespace runs unchanged. <see cref="Block"/> gives block i alone as a <see cref="BilevelProblem"/>
/// whose y shares memory with <c>Y[i]</c>.
/// <para>Sampling: <see cref="BlockSampler"/> draws the I blocks of an iteration (a <see cref="BatchStream"/> over
/// [0, m)); <see cref="UpperBatches"/> and <see cref="LowerBatches"/> are drawn once per sampled block, in the order the
/// blocks are visited. <see cref="Combined"/> draws from the same two streams, and its batch is passed to every
/// block.</para>
/// <para>Validation, before anything is stored: x and Y as in <see cref="BilevelProblem"/>; Y needs at least one
/// dimension and m = Y.shape[0] ≥ 1.</para>
/// </summary>
public sealed class MultiBlockBilevelProblem
{
    private readonly BilevelProblem[] _blocks;

    /// <summary>Creates the problem; see the class remarks.</summary>
    /// <param name="upper">f_i(x, y_i, batch).</param>
    /// <param name="lower">g_i(x, y_i, batch), strongly convex in y_i.</param>
    /// <param name="x">Shared hyperparameters (leaf, requires grad).</param>
    /// <param name="y">All blocks' parameters, [m, …] (leaf, requires grad).</param>
    /// <param name="blockSampler">Which blocks an iteration visits (default: all m, in order).</param>
    /// <param name="upperBatches">Upper minibatches, one per visited block (default: full data).</param>
    /// <param name="lowerBatches">Lower minibatches, one per visited block (default: full data).</param>
    /// <param name="xBounds">Optional box for x, as in <see cref="BilevelProblem"/>.</param>
    public MultiBlockBilevelProblem(MultiBlockLoss upper, MultiBlockLoss lower, Tensor x, Tensor y, BatchStream? blockSampler = null,
        BatchStream? upperBatches = null, BatchStream? lowerBatches = null, (double Lower, double Upper)? xBounds = null)
    {
        ArgumentNullException.ThrowIfNull(upper);
        ArgumentNullException.ThrowIfNull(lower);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (y.dim() < 1) throw new ArgumentException("y must have a leading block dimension [m, …]; got a 0-dimensional tensor.", nameof(y));
        int m = (int)y.shape[0];
        if (m < 1) throw new ArgumentException($"y must hold at least one block, got shape [{string.Join(", ", y.shape)}].", nameof(y));
        Upper = upper;
        Lower = lower;
        BlockCount = m;
        // The combined problem validates x, y and the bounds before anything else is stored.
        Combined = new BilevelProblem(CombinedUpper, CombinedLower, x, y, upperBatches, lowerBatches, xBounds);
        BlockSampler = blockSampler ?? BatchStream.Scripted(new[] { Enumerable.Range(0, m).Select(i => (long)i).ToArray() }, cycle: true);
        _blocks = new BilevelProblem[m];
        using var _ = no_grad();
        for (int i = 0; i < m; i++)
        {
            int block = i;
            // y[i].detach() is a leaf view of row i: in-place updates of either are updates of both.
            var view = y[i].detach().requires_grad_(true).DetachFromDisposeScope();
            _blocks[i] = new BilevelProblem((a, b, c) => upper(block, a, b, c), (a, b, c) => lower(block, a, b, c), x, view);
        }
    }

    /// <summary>m, the number of lower problems.</summary>
    public int BlockCount { get; }
    /// <summary>f_i.</summary>
    public MultiBlockLoss Upper { get; }
    /// <summary>g_i.</summary>
    public MultiBlockLoss Lower { get; }
    /// <summary>The shared hyperparameters, updated in place.</summary>
    public Tensor X => Combined.X;
    /// <summary>All blocks' parameters [m, …], updated in place.</summary>
    public Tensor Y => Combined.Y;
    /// <summary>Draws the blocks an iteration visits (indices in [0, m)).</summary>
    public BatchStream BlockSampler { get; }
    /// <summary>Upper minibatches, one per visited block (also <see cref="Combined"/>'s).</summary>
    public BatchStream UpperBatches => Combined.UpperBatches;
    /// <summary>Lower minibatches, one per visited block (also <see cref="Combined"/>'s).</summary>
    public BatchStream LowerBatches => Combined.LowerBatches;
    /// <summary>The whole problem as one <see cref="BilevelProblem"/> (see the class remarks).</summary>
    public BilevelProblem Combined { get; }

    /// <summary>Block <paramref name="i"/> alone: f_i, g_i, the shared x and a y that shares memory with <c>Y[i]</c>.</summary>
    public BilevelProblem Block(int i) =>
        i >= 0 && i < BlockCount ? _blocks[i] : throw new ArgumentOutOfRangeException(nameof(i), $"block index must be in [0, {BlockCount}), got {i}.");

    private Tensor CombinedUpper(Tensor x, Tensor y, Tensor? batch)
    {
        using var s = new SharpOptim.Optimizers.ScalarHold();
        Tensor total = Upper(0, x, y[0], batch);
        for (int i = 1; i < BlockCount; i++) total = TensorMath.Combine(total, 1.0, Upper(i, x, y[i], batch));
        return total.div(s[(double)BlockCount]);
    }

    private Tensor CombinedLower(Tensor x, Tensor y, Tensor? batch)
    {
        Tensor total = Lower(0, x, y[0], batch);
        for (int i = 1; i < BlockCount; i++) total = TensorMath.Combine(total, 1.0, Lower(i, x, y[i], batch));
        return total;
    }
}
