using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// A decoder-only language model whose attention is supplied by the caller: what rollouts (sampling, the key/value
/// cache), the policy losses' log-probabilities and the shared-prefix forward need from a model. The project's
/// <c>CharTransformer</c> implements it.
/// </summary>
public interface ICausalLanguageModel
{
    /// <summary>Vocabulary size (the last dimension of the logits).</summary>
    int Vocabulary { get; }

    /// <summary>Number of learned positions: every position id must lie in [0, BlockSize).</summary>
    int BlockSize { get; }

    /// <summary>Number of layers, hence of <see cref="IAttentionKernel.Attend"/> calls per forward.</summary>
    int Layers { get; }

    /// <summary>
    /// Logits [batch, time, vocabulary] for token ids <paramref name="tokens"/> [batch, time] at position ids
    /// <paramref name="positions"/> ([batch, time] or [time], int64), with every layer's attention computed by
    /// <paramref name="attention"/>.
    /// </summary>
    Tensor Forward(Tensor tokens, Tensor positions, IAttentionKernel attention);
}
