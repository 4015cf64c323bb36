using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// The sampling distribution over the vocabulary from logits: log softmax(logits / temperature), restricted to the
/// <c>topK</c> largest logits (others get −∞; 0 = all). The sampler draws from it and the training forward evaluates it,
/// so ℓ^old recorded at sampling time and ℓ from the training forward are log-probabilities of the same distribution.
/// </summary>
public static class TokenDistribution
{
    /// <summary>Validates a temperature and a top-k for a vocabulary of <paramref name="vocabulary"/> symbols.</summary>
    public static void Check(double temperature, int topK, int vocabulary)
    {
        if (!(temperature > 0) || double.IsInfinity(temperature)) throw new ArgumentException($"temperature = {temperature}; it must be finite and positive.", nameof(temperature));
        if (topK < 0 || topK > vocabulary) throw new ArgumentException(FormattableString.Invariant($"topK = {topK}; it must lie in [0, {vocabulary}] (0 = no restriction)."), nameof(topK));
    }

    /// <summary>Log-probabilities [..., V] of the sampling distribution for <paramref name="logits"/> [..., V].</summary>
    public static Tensor LogSoftmax(Tensor logits, double temperature, int topK)
    {
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var z = temperature == 1 ? logits : logits.div(s[temperature]);
        if (topK > 0 && topK < logits.shape[^1])
        {
            var kth = z.topk(topK, dim: -1).values.narrow(-1, topK - 1, 1);
            z = z.masked_fill(z.lt(kth), s[double.NegativeInfinity]);
        }
        return z.log_softmax(-1).MoveToOuterDisposeScope();
    }
}
