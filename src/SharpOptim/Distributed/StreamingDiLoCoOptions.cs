namespace SharpOptim.Distributed;

/// <summary>Hyperparameters of <see cref="StreamingDiLoCo"/> (defaults: the brief's, ../shared/papers/distributed.md §11).</summary>
public sealed record StreamingDiLoCoOptions
{
    /// <summary>Inner steps between two synchronisations of the same fragment, H (paper's captions: 30 and 100).</summary>
    public int InnerSteps { get; init; } = 100;

    /// <summary>
    /// Fragment of each trainable parameter tensor (in <see cref="WorkerProblem.Parameters"/> order), values 0…P−1,
    /// every fragment non-empty. Null = one fragment holding everything. <see cref="StreamingDiLoCo.StridedFragments"/>
    /// builds the paper's strided pattern from the block index of each parameter.
    /// </summary>
    public IReadOnlyList<int>? ParameterFragments { get; init; }

    /// <summary>Overlap τ: inner steps between starting a fragment's all-reduce and applying it (0 ≤ τ &lt; H/P; paper: robust for τ &lt; 5).</summary>
    public int OverlapSteps { get; init; } = 1;

    /// <summary>Mixing α of the local fragment with the new global one: θ_local ← α·θ_local + (1 − α)·θ_global (paper: 0.5).</summary>
    public double MixingAlpha { get; init; } = 0.5;

    /// <summary>Exchange outer gradients in the 4-bit format of <see cref="OuterGradientQuantizer"/> (quantize → dequantize before a float32 sum).</summary>
    public bool Quantize { get; init; } = true;

    /// <summary>Outer (Nesterov SGD) learning rate (DiLoCo / torchft: 0.7).</summary>
    public double OuterLr { get; init; } = 0.7;

    /// <summary>Outer Nesterov momentum (DiLoCo / torchft: 0.9).</summary>
    public double OuterMomentum { get; init; } = 0.9;
}
