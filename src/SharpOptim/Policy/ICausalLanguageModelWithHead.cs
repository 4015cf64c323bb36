using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// A <see cref="ICausalLanguageModel"/> whose logits are a bias-free linear output layer over final hidden states:
/// logits = <see cref="Hidden"/> · <see cref="HeadWeight"/>ᵀ. CAPO (<see cref="Capo"/>) needs both to predict, per
/// token, what an optimizer step on the output layer would do. The project's <c>CharTransformer</c> implements it.
/// </summary>
public interface ICausalLanguageModelWithHead : ICausalLanguageModel
{
    /// <summary>The output layer's weight [vocabulary, hidden] (the live parameter; detach before using it as data).</summary>
    Tensor HeadWeight { get; }

    /// <summary>Final hidden states [batch, time, hidden] (after the last normalisation, the input of the output
    /// layer) for the same arguments as <see cref="ICausalLanguageModel.Forward"/>; applying the output layer to them
    /// gives that call's logits.</summary>
    Tensor Hidden(Tensor tokens, Tensor positions, IAttentionKernel attention);
}
