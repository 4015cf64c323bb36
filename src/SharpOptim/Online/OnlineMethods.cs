namespace SharpOptim.Online;

/// <summary>The online-learning and contextual-bandit methods, as <c>sharpoptim list</c> shows them.</summary>
public static class OnlineMethods
{
    /// <summary>Every method of the Online family.</summary>
    public static IReadOnlyList<MethodEntry> All { get; } = new MethodEntry[]
    {
        new("Online", "ogd", "Online.OnlineGradientDescent", "Zinkevich, Online Convex Programming and Generalized Infinitesimal Gradient Ascent, ICML 2003"),
        new("Online", "hedge", "Online.Hedge", "Freund & Schapire, A decision-theoretic generalization of on-line learning, 1997 (as OMD: Orabona, arXiv:1912.13213)"),
        new("Online", "ftrl", "Online.FollowTheRegularizedLeader", "Xiao, Dual Averaging Methods, JMLR 2010; optimistic form: Sachs et al., NeurIPS 2022"),
        new("Online", "ftrl-proximal", "Online.FtrlProximal", "McMahan et al., Ad Click Prediction: a View from the Trenches, KDD 2013 (Keras Ftrl form)"),
        new("Online", "optimistic-omd", "Online.OptimisticOnlineGradientDescent", "Chen, Zhang, Tu, Zhao & Zhang, Optimistic Online Mirror Descent for Bridging Stochastic and Adversarial OCO (arXiv:2302.04552); step sizes reconstructed", Reconstruction: true),
    };
}
