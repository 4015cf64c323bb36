namespace SharpOptim.Optimizers;

/// <summary>The rule FRUGAL applies to the state-free part of the gradient.</summary>
public enum FrugalStateFree
{
    /// <summary>signSGD: −lr·s·sign(g_free) (the paper's default).</summary>
    SignSgd = 0,
    /// <summary>SGD: −lr·s·g_free.</summary>
    Sgd = 1,
}
