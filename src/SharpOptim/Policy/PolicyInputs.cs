using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>Validation and aggregation shared by the policy losses. Every check runs before any tensor is computed, so
/// a bad input throws an <see cref="ArgumentException"/> naming the value and changes nothing.</summary>
internal static class PolicyInputs
{
    /// <summary>Checks that <paramref name="logProbs"/> is a floating [N, L] tensor and that every other tensor (null =
    /// not used) has its shape and dtype; returns (N, L).</summary>
    public static (long N, long L) CheckTokens(Tensor logProbs, Tensor mask, params (Tensor? T, string Name)[] others)
    {
        ArgumentNullException.ThrowIfNull(logProbs);
        ArgumentNullException.ThrowIfNull(mask);
        if (logProbs.dim() != 2 || logProbs.shape[0] == 0 || logProbs.shape[1] == 0)
            throw new ArgumentException($"log-probabilities must be a non-empty [completions, tokens] tensor; got [{string.Join(", ", logProbs.shape)}].", nameof(logProbs));
        if (!logProbs.is_floating_point())
            throw new ArgumentException($"log-probabilities must be floating point; got {logProbs.dtype}.", nameof(logProbs));
        foreach (var (t, name) in others.Append((mask, "mask")))
        {
            if (t is null) continue;
            if (!t.shape.SequenceEqual(logProbs.shape))
                throw new ArgumentException($"{name} has shape [{string.Join(", ", t.shape)}]; the log-probabilities have [{string.Join(", ", logProbs.shape)}].", name);
            if (t.dtype != logProbs.dtype)
                throw new ArgumentException($"{name} has dtype {t.dtype}; the log-probabilities have {logProbs.dtype}.", name);
        }
        return (logProbs.shape[0], logProbs.shape[1]);
    }

    /// <summary>Token counts |o_i| = Σ_t m[i,t]; each must be at least 1 and the mask must hold only 0 and 1.</summary>
    public static double[] Lengths(Tensor mask)
    {
        using var scope = NewDisposeScope();
        var flat = mask.detach().to(ScalarType.Float64).cpu();
        long n = mask.shape[0], l = mask.shape[1];
        var values = flat.reshape(-1).data<double>().ToArray();
        var lengths = new double[n];
        for (long i = 0; i < n; i++)
            for (long t = 0; t < l; t++)
            {
                double v = values[i * l + t];
                if (v != 0 && v != 1) throw new ArgumentException(FormattableString.Invariant($"mask[{i}, {t}] = {v}; a completion mask holds only 0 and 1."), nameof(mask));
                lengths[i] += v;
            }
        for (long i = 0; i < n; i++)
            if (lengths[i] < 1) throw new ArgumentException(FormattableString.Invariant($"completion {i} has an empty mask (no tokens)."), nameof(mask));
        return lengths;
    }

    /// <summary>Checks a per-completion vector: <paramref name="n"/> entries, all finite.</summary>
    public static void CheckPerCompletion(IReadOnlyList<double> values, long n, string name)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        if (values.Count != n)
            throw new ArgumentException(FormattableString.Invariant($"{name} has {values.Count} entries for {n} completions."), name);
        for (int i = 0; i < values.Count; i++)
            if (!double.IsFinite(values[i]))
                throw new ArgumentException(FormattableString.Invariant($"{name}[{i}] = {values[i]} is not finite."), name);
    }

    /// <summary>Checks the aggregation's constant: <see cref="PolicyLossAggregation.ConstantLength"/> needs a positive
    /// <paramref name="maxLength"/> at least the tensor's length.</summary>
    public static void CheckAggregation(PolicyLossAggregation aggregation, int maxLength, long length)
    {
        if (!Enum.IsDefined(aggregation)) throw new ArgumentException($"unknown aggregation {aggregation}.", nameof(aggregation));
        if (aggregation == PolicyLossAggregation.ConstantLength && maxLength < length)
            throw new ArgumentException(FormattableString.Invariant($"maxLength = {maxLength}: the constant-length aggregation needs the generation budget L_max ≥ the {length} token columns."), nameof(maxLength));
    }

    /// <summary>A [N, 1] column of <paramref name="values"/> in <paramref name="like"/>'s dtype and device.</summary>
    public static Tensor Column(IReadOnlyList<double> values, Tensor like) =>
        tensor(values.ToArray(), dtype: ScalarType.Float64).to(like.dtype, like.device).reshape(-1, 1);

    /// <summary>The aggregation of per-token terms <paramref name="x"/> under <paramref name="mask"/>.</summary>
    public static Tensor Aggregate(Tensor x, Tensor mask, PolicyLossAggregation aggregation, int maxLength)
    {
        using var s = new ScalarHold();
        var masked = x.mul(mask);
        return aggregation switch
        {
            PolicyLossAggregation.SequenceSum => masked.sum(1).mean(),
            PolicyLossAggregation.SequenceMean => masked.sum(1).div(mask.sum(1)).mean(),
            PolicyLossAggregation.TokenMean => masked.sum().div(mask.sum()),
            PolicyLossAggregation.ConstantLength => masked.sum().div(s[(double)x.shape[0] * maxLength]),
            _ => throw new ArgumentException($"unknown aggregation {aggregation}.", nameof(aggregation)),
        };
    }
}
