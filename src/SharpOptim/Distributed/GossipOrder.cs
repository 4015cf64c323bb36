namespace SharpOptim.Distributed;

/// <summary>Where a decentralized method applies its local step relative to the gossip average (../shared/papers/distributed.md §2, §3).</summary>
public enum GossipOrder
{
    /// <summary>x_i ← Σ_j W_ij (x_j − η g_j): step first, then average (Koloskova et al., arXiv 2003.10422; the ProxDASA repository's dsgt.py).</summary>
    AdaptThenCombine,

    /// <summary>x_i ← Σ_j W_ij x_j − η g_i(x_i): average and step from the same pre-mixing iterate (D-PSGD, Lian et al., arXiv 1705.09056; DIGing for gradient tracking).</summary>
    CombineThenAdapt,
}
