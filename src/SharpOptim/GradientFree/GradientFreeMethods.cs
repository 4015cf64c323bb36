namespace SharpOptim.GradientFree;

/// <summary>The gradient-free family as <c>sharpoptim list</c> shows it.</summary>
public static class GradientFreeMethods
{
    /// <summary>Every method of the family, with its paper.</summary>
    public static IReadOnlyList<MethodEntry> All { get; } = new[]
    {
        new MethodEntry("GradientFree", "openai-es", "GradientFree.OpenAIES", "Salimans, Ho, Chen, Sidor, Sutskever: Evolution Strategies as a Scalable Alternative to Reinforcement Learning, arXiv:1703.03864"),
        new MethodEntry("GradientFree", "eggroll", "GradientFree.Eggroll", "Sarkar, Fellows, Duque et al.: Evolution Strategies at the Hyperscale, arXiv:2511.16652"),
        new MethodEntry("GradientFree", "mezo", "GradientFree.MeZO", "Malladi, Gao, Nichani, Damian, Lee, Chen, Arora: Fine-Tuning Language Models with Just Forward Passes, arXiv:2305.17333"),
        new MethodEntry("GradientFree", "zo2", "GradientFree.ZO2Schedule", "Wang, Ren, Xu, Wang, Xie, Keyes, Wang: ZO2: Scalable Zeroth-Order Fine-Tuning for Extremely Large Language Models with Limited GPU Memory, arXiv:2503.12668"),
        new MethodEntry("GradientFree", "cbo", "GradientFree.ConsensusBasedOptimization", "Riedl, Klock, Geldhauser, Fornasier: Gradient is All You Need? How Consensus-Based Optimization can be Interpreted as a Stochastic Relaxation of Gradient Descent, arXiv:2306.09778"),
    };
}
