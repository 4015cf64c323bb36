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
        new("Online", "linucb", "Online.LinUcb", "Li, Chu, Langford & Schapire, A Contextual-Bandit Approach to Personalized News Article Recommendation, WWW 2010 (arXiv:1003.0146)"),
        new("Online", "diag-linucb", "Online.DiagLinUcb", "Yi et al., Online Matching: A Real-time Bandit System for Large-scale Recommendations, RecSys 2023 (arXiv:2307.15893); equations second-hand, hyperparameters not the paper's", Reconstruction: true),
        new("Online", "neuralucb", "Online.NeuralUcb", "Zhou, Li & Gu, Neural Contextual Bandits with UCB-based Exploration, ICML 2020 (arXiv:1911.04462); official code's diagonal form"),
        new("Online", "neuralts", "Online.NeuralTs", "Zhang, Zhou, Li & Gu, Neural Thompson Sampling, ICLR 2021 (arXiv:2010.00827); official code's diagonal form"),
        new("Online", "epsilon-greedy", "Online.EpsilonGreedyBandit", "Sutton & Barto, Reinforcement Learning: An Introduction (2nd ed., §2.2); contextual baseline as in Langford & Zhang, The Epoch-Greedy Algorithm, NIPS 2007; constant ε"),
        new("Online", "squarecb", "Online.NeuralRegressionBandit", "Deb, Ban, Zuo, He & Banerjee, Contextual Bandits with Online Neural Regression (arXiv:2312.07145) via SquareCB (Foster & Rakhlin, arXiv:2002.04926); the paper's perturbation not implemented", Reconstruction: true),
        new("Online", "fastcb", "Online.NeuralRegressionBandit", "Deb et al. (arXiv:2312.07145) via FastCB (Foster & Krishnamurthy, arXiv:2107.02237); the paper's perturbation not implemented", Reconstruction: true),
    };
}
