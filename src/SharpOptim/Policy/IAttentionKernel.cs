using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// The attention step of a causal language model, separated from the model so that the same weights can run plain
/// causal attention, incremental decoding with a key/value cache, or a shared-prefix (Prefix Grouper) layout.
/// The model projects queries, keys and values and calls <see cref="Attend"/> once per layer, in layer order; the
/// kernel returns softmax(q·kᵀ/√d + mask)·v with whatever mask (and whatever extra keys, such as cached ones) its
/// layout needs.
/// </summary>
public interface IAttentionKernel
{
    /// <summary>
    /// Attention of one layer. <paramref name="query"/>, <paramref name="key"/> and <paramref name="value"/> are
    /// [batch, heads, time, headDim] for the tokens of this forward call; the result has the shape of
    /// <paramref name="query"/>. <paramref name="layer"/> is the 0-based layer index.
    /// </summary>
    Tensor Attend(int layer, Tensor query, Tensor key, Tensor value);
}
