namespace SharpOptim.Distributed;

/// <summary>The decentralized, federated and low-communication methods, as <c>sharpoptim list</c> shows them.</summary>
public static class DistributedMethods
{
    /// <summary>Every method of the Distributed family.</summary>
    public static IReadOnlyList<MethodEntry> All { get; } = new MethodEntry[]
    {
        new("Distributed", "dsgd", "Distributed.DecentralizedSgd", "Lian et al., Can Decentralized Algorithms Outperform Centralized Algorithms? (arXiv:1705.09056); Koloskova et al., A Unified Theory of Decentralized SGD (arXiv:2003.10422)"),
        new("Distributed", "gt", "Distributed.GradientTracking", "Nedić, Olshevsky & Shi, DIGing (arXiv:1607.03218); Pu & Nedić, Distributed Stochastic Gradient Tracking Methods (arXiv:1805.11454); order of the ProxDASA repository's dsgt.py"),
        new("Distributed", "prox-dasa", "Distributed.ProxDasa", "Xiao, Chen, Balasubramanian & Ghadimi, A One-Sample Decentralized Proximal Algorithm for Non-Convex Stochastic Composite Optimization (arXiv:2302.09766); official code xuxingc/ProxDASA"),
        new("Distributed", "prox-dasa-gt", "Distributed.ProxDasa", "Xiao et al. (arXiv:2302.09766), Prox-DASA-GT; the official code never uses its tracker, the tracked gradient in the averaging step is a reconstruction of the paper's intent", Reconstruction: true),
        new("Distributed", "fedavg", "Distributed.FedAvg", "McMahan et al., Communication-Efficient Learning of Deep Networks from Decentralized Data (arXiv:1602.05629); server update as FL-Simulator"),
        new("Distributed", "diloco", "Distributed.DiLoCo", "Douillard et al., DiLoCo: Distributed Low-Communication Training of Language Models (arXiv:2311.08105); no official code, update as torchft and gensyn-ai/noloco"),
    };
}
