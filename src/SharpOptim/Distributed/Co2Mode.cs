namespace SharpOptim.Distributed;

/// <summary>How <see cref="Co2"/> applies the outer update.</summary>
public enum Co2Mode
{
    /// <summary>The official code's math (SlowMo-like, synchronous outer step) with a working clip: the tested default.</summary>
    Synchronous,

    /// <summary>
    /// EXPERIMENTAL reconstruction of the paper's one-step-stale asynchronous all-reduce (the paper's Algorithm 1,
    /// its staleness-gap formula Λ_t and the reconciliation of the local model were not available).
    /// </summary>
    OneStepStale,
}
