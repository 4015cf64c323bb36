namespace SharpOptim.Tasks.Bilevel;

/// <summary>How the features of <see cref="L2TuningTask"/> share regularisation strengths.</summary>
public enum L2Grouping
{
    /// <summary>One strength for all 60 features.</summary>
    Global,
    /// <summary>One for the 30 real features, one for the 30 noise features.</summary>
    RealAndNoise,
    /// <summary>One per feature (60).</summary>
    PerFeature,
}
