namespace SharpOptim.Optimizers;

/// <summary>
/// The hyperparameters every Adam-style optimizer has, declared and validated once: β1 and β2 (decays of the first
/// and second moments, each in [0, 1)), ε (added to the denominator, &gt;= 0) and the weight decay (&gt;= 0; whether it
/// is an L2 penalty or decoupled is the optimizer's, see its documentation). Used by the options of
/// <see cref="Adam"/>/<see cref="AdamW"/>, <see cref="DiffGrad"/>, <see cref="MoFO"/>, <see cref="Muon"/> (its
/// auxiliary Adam), <see cref="AdamMini"/>, <see cref="GaLore"/>, <see cref="Frugal"/> and <see cref="Lanton"/> (its AdamW groups).
/// <para>
/// Messages name the options as the optimizer's constructor takes them (<see cref="OptionsBase.OptionName"/>: Muon's
/// are adam_beta1, adam_beta2, adam_eps). Checkpoints store these four first, then the optimizer's own options in
/// their declaration order — the layout these options had when each optimizer declared them itself (Muon and LANTON, whose
/// own options came first, keep that order through <see cref="OptionsBase.SerializedOrder"/>), so checkpoints
/// written before load unchanged.
/// </para>
/// </summary>
public abstract class AdamStyleOptions : OptionsBase
{
    /// <summary>Decay of the first moment, in [0, 1).</summary>
    public double? Beta1 { get; set; }

    /// <summary>Decay of the second moment, in [0, 1).</summary>
    public double? Beta2 { get; set; }

    /// <summary>Added to the denominator for numerical stability, &gt;= 0.</summary>
    public double? Eps { get; set; }

    /// <summary>Weight decay, &gt;= 0 (an L2 penalty or decoupled: see the optimizer).</summary>
    public double? WeightDecay { get; set; }

    /// <summary>Checks the learning rate, then β1, β2, ε and the weight decay; subclasses check their own options after.</summary>
    public override void Validate()
    {
        base.Validate();
        RequireUnitInterval(OptionName(nameof(Beta1)), Beta1);
        RequireUnitInterval(OptionName(nameof(Beta2)), Beta2);
        RequireNonNegative(OptionName(nameof(Eps)), Eps);
        RequireNonNegative(OptionName(nameof(WeightDecay)), WeightDecay);
    }
}
