namespace SharpOptim.Online;

/// <summary>Where an optimistic learner's hint M_t (its guess of the next gradient) comes from.</summary>
public enum OptimisticHint
{
    /// <summary>M_t = 0: the learner is its non-optimistic counterpart.</summary>
    Zero,
    /// <summary>M_{t+1} = g_t, the last observed gradient (the standard choice for slowly varying losses).</summary>
    LastGradient,
    /// <summary>M_t is supplied each round by the caller (tests use the exact next gradient); 0 when none is given.</summary>
    External,
}
