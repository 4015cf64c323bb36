namespace SharpOptim.Policy;

/// <summary>The policy-optimization methods for language models, as <c>sharpoptim list</c> shows them. (Prefix Grouper
/// and Tree Training, the shared-prefix forwards, are added by their own files' entries when they land.)</summary>
public static class PolicyMethods
{
    /// <summary>Every method of the Policy family.</summary>
    public static IReadOnlyList<MethodEntry> All { get; } = new MethodEntry[]
    {
        new("Policy", "reinforce", "Policy.Reinforce", "Williams, Simple statistical gradient-following algorithms for connectionist reinforcement learning, 1992"),
        new("Policy", "rloo", "Policy.Reinforce (LeaveOneOut)", "Kool, van Hoof & Welling, Buy 4 REINFORCE samples, get a baseline for free!, 2019; Ahmadian et al., Back to Basics (arXiv:2402.14740)"),
        new("Policy", "remax", "Policy.ReMax", "Li, Xu, Zhang, Yu, Sun & Luo, ReMax (arXiv:2310.10505); official code's rule (paper's Algorithm 1 not read)"),
        new("Policy", "grpo", "Policy.Grpo", "Shao et al., DeepSeekMath (arXiv:2402.03300) §4; aggregations of DAPO (arXiv:2503.14476)"),
        new("Policy", "dr-grpo", "Policy.Grpo (GrpoOptions.DrGrpo)", "Liu et al., Understanding R1-Zero-Like Training: A Critical Perspective (arXiv:2503.20783)"),
        new("Policy", "disco", "Policy.Disco", "Li, Lin, Galanti, Tu & Yang, DisCO: Discriminative Constrained Optimization (arXiv:2505.12366); official code's losses"),
        new("Policy", "capo", "Policy.Capo", "Melo, Abate & Gal, Stabilizing Policy Gradients for Sample-Efficient Reinforcement Learning in LLM Reasoning (arXiv:2510.00819); official code's token masks (paper body not read)"),
        new("Policy", "arpo", "Policy.ArpoReplayBuffer + Grpo", "Lu, Zhong, Liu, Fu & Jia, ARPO: End-to-End Policy Optimization for GUI Agents with Experience Replay (arXiv:2505.16282); official code"),
        new("Policy", "ppo", "Policy.Ppo + PpoCritic", "Schulman, Wolski, Dhariwal, Radford & Klimov, Proximal Policy Optimization Algorithms (arXiv:1707.06347) with token-level GAE (arXiv:1506.02438); verl's actor-critic form, the baseline of ReMax (arXiv:2310.10505)"),
        new("Policy", "prefix-grouper", "Policy.PrefixGrouper", "Liu, Yue, Tang, Guo, Cai, Liu, Chen & Liu, Prefix Grouper: Efficient GRPO Training through Shared-Prefix Forward (arXiv:2506.05433); official code"),
        new("Policy", "tree-training", "Policy.TreeTraining", "Wang, Wang, Cui, Chen, Wang, Huang, Zhang, Peng, Wan, Zhang & Chen, Tree Training: Accelerating Agentic LLMs Training via Shared Prefix Reuse (arXiv:2511.00413)", Reconstruction: true),
    };
}
