namespace SharpOptim.Optimizers;

/// <summary>The rule FRUGAL applies to the state-free part of the gradient (the official code's <c>inactive_update_rule</c>).</summary>
public enum FrugalStateFree
{
    /// <summary>signSGD: −lr·s·sign(g_free) (the paper's default, <c>sign_sgd</c>).</summary>
    SignSgd = 0,
    /// <summary>SGD: −lr·s·g_free (<c>sgd</c>).</summary>
    Sgd = 1,
    /// <summary>No update of the state-free part (<c>no</c>: with the SVD subspace and no reset this is GaLore's rule).</summary>
    None = 2,
}
