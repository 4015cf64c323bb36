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
        new("Distributed", "streaming-diloco", "Distributed.StreamingDiLoCo", "Douillard et al., Streaming DiLoCo with overlapping communication (arXiv:2501.18512); schedule as torchft; the 4-bit E3M0 outer-gradient format is a reconstruction", Reconstruction: true),
        new("Distributed", "noloco", "Distributed.NoLoCo", "Kolehmainen et al., NoLoCo: No-all-reduce Low Communication Training Method for Large Models (arXiv:2506.10911); official code gensyn-ai/noloco"),
        new("Distributed", "co2", "Distributed.Co2", "Sun et al., CO2: Efficient Distributed Training with Full Communication-Computation Overlap (arXiv:2401.16265); official fairscale-CO2 (synchronous mode; the one-step-stale mode is an experimental reconstruction)"),
        new("Distributed", "fedspeed", "Distributed.FedSpeed", "Sun et al., FedSpeed: Larger Local Interval, Less Communication Round, and Higher Generalization Accuracy (arXiv:2302.10429); official code FL-Simulator"),
        new("Distributed", "dadao", "Distributed.Dadao", "Nabli & Oyallon, DADAO: Decoupled Accelerated Decentralized Asynchronous Optimization (arXiv:2208.00779); official code AdelNabli/DADAO; event simulator only"),
        new("Distributed", "sa-srrw", "Distributed.SaSrrw", "Hu, Doshi & Eun, Accelerating Distributed Stochastic Optimization via Self-Repellent Random Walks (arXiv:2401.09665); no official code: reconstruction from the abstracts and the SRRW kernel of arXiv:2305.05097", Reconstruction: true),
        new("Distributed", "single-merging", "Distributed.SingleMerging", "Zhu et al., A Single Merging Suffices: Recovering Server-based Learning Performance in Decentralized Learning (arXiv:2507.06542); official code Raiden-Zhu/ICLR-2026-Grokking-in-Decentralized-Learning"),
    };
}
