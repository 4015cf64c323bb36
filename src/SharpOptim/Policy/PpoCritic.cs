using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// The value model of the PPO-style actor-critic (<see cref="Ppo"/>): a SEPARATE copy of the policy's transformer trunk
/// (the caller passes a copy, e.g. of the supervised model, as verl initialises its critic from the SFT checkpoint) and a
/// scalar head Linear(hidden, 1) reading the trunk's final hidden states (<see cref="ICausalLanguageModelWithHead.Hidden"/>).
/// V_{i,t} is read at the position whose output predicts completion token t (P − 1 + t: the state before the token is
/// chosen), as verl's critic takes <c>values[:, -response_length - 1 : -1]</c>.
/// <para>The head is initialised as Hugging Face's token-classification head that verl's critic loads
/// (<c>AutoModelForTokenClassification</c>, <c>num_labels = 1</c>): weight N(0, 0.02²), bias 0. Deviation: the copied
/// trunk keeps its vocabulary output layer (the interface exposes no trunk without it); it is frozen (requires_grad off),
/// never used, gets no gradient and no optimizer state; <see cref="TrainableParameters"/> leaves it out. Its bytes are
/// counted as parameters where memory is reported.</para>
/// </summary>
public sealed class PpoCritic : nn.Module
{
    private readonly ICausalLanguageModelWithHead trunk;
    private readonly Linear value_head;

    /// <summary>Wraps <paramref name="trunk"/> (owned from now on: disposed with the critic) and adds the value head in
    /// the trunk's dtype and device.</summary>
    public PpoCritic(ICausalLanguageModelWithHead trunk) : base("PpoCritic")
    {
        ArgumentNullException.ThrowIfNull(trunk);
        if (trunk is not nn.Module module) throw new ArgumentException($"the trunk must be a TorchSharp module; got {trunk.GetType().Name}.", nameof(trunk));
        this.trunk = trunk;
        var head = trunk.HeadWeight;
        value_head = nn.Linear(head.shape[1], 1, hasBias: true, device: head.device, dtype: head.dtype);
        using (no_grad())
        {
            nn.init.normal_(value_head.weight, 0, 0.02);
            value_head.bias!.zero_();
        }
        head.requires_grad_(false);
        register_module("trunk", module);
        register_module("value_head", value_head);
    }

    /// <summary>The value model's trunk.</summary>
    public ICausalLanguageModelWithHead Trunk => trunk;

    /// <summary>Values [N, L] of every completion position (with gradient unless called under no_grad); prompts and
    /// completions as <see cref="SequenceLogProbs.Compute"/> takes them.</summary>
    public Tensor Values(IReadOnlyList<long[]> prompts, Tensor completions) =>
        CompletionPositions.Gather(prompts, completions, trunk.BlockSize,
            (input, positions) => value_head.call(trunk.Hidden(input, positions, CausalAttention.Instance)).squeeze(-1));

    /// <summary>The parameters the critic's optimizer trains: everything but the frozen vocabulary head of the trunk.</summary>
    public IEnumerable<(string name, Parameter parameter)> TrainableParameters() =>
        named_parameters().Where(p => p.parameter.requires_grad).ToArray();
}
