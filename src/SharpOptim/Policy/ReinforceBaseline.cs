namespace SharpOptim.Policy;

/// <summary>The baseline b subtracted from a completion's reward in <see cref="Reinforce"/> (brief §1).</summary>
public enum ReinforceBaseline
{
    /// <summary>b = 0: Williams' plain estimator.</summary>
    None,

    /// <summary>b = a constant given by the caller, e.g. a moving average of past mean rewards
    /// (b ← 0.9 b + 0.1 mean(r)); it must not depend on this batch's samples.</summary>
    Constant,

    /// <summary>RLOO: b_i = mean of the other G − 1 rewards of the same prompt (Kool, van Hoof &amp; Welling 2019;
    /// Ahmadian et al., arXiv 2402.14740). Unbiased because b_i uses only the siblings; r_i − b_i = G/(G−1)·(r_i − mean r).</summary>
    LeaveOneOut,
}
