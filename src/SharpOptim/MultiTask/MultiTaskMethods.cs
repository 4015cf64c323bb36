namespace SharpOptim.MultiTask;

/// <summary>The multi-task family's methods as <c>sharpoptim list</c> shows them.</summary>
public static class MultiTaskMethods
{
    /// <summary>Every method of the family, with its paper; MultiBalance and MARIGOLD are reconstructions.</summary>
    public static IReadOnlyList<MethodEntry> All { get; } = new MethodEntry[]
    {
        new("MultiTask", "equal", "MultiTask.EqualWeights", "equal weighting, the sum of the task losses (baseline)"),
        new("MultiTask", "fixed", "MultiTask.FixedWeights", "fixed task weights (baseline; one-hot = single-task reference)"),
        new("MultiTask", "mgda", "MultiTask.Mgda", "Sener & Koltun, Multi-Task Learning as Multi-Objective Optimization, NeurIPS 2018 (arXiv:1810.04650)"),
        new("MultiTask", "mgda-ub", "MultiTask.MgdaUb", "Sener & Koltun, Multi-Task Learning as Multi-Objective Optimization, NeurIPS 2018 (arXiv:1810.04650), MGDA-UB"),
        new("MultiTask", "pcgrad", "MultiTask.PCGrad", "Yu et al., Gradient Surgery for Multi-Task Learning, NeurIPS 2020 (arXiv:2001.06782)"),
        new("MultiTask", "multibalance", "MultiTask.MultiBalance", "He, Chen, Xu et al., MultiBalance: Multi-Objective Gradient Balancing in Industrial-Scale Multi-Task Recommendation System (arXiv:2411.11871)", Reconstruction: true),
        new("MultiTask", "marigold", "MultiTask.Marigold", "Chen, He, Xu et al., Feed m Birds with One Scone: Accelerating Multi-task Gradient Balancing via Bi-level Optimization (arXiv:2603.07389)", Reconstruction: true),
        new("MultiTask", "min-norm", "MultiTask.MinNormSolver", "min-norm point of a convex hull: closed form (T=2), Frank-Wolfe with exact line search (Sener & Koltun 2018)"),
    };
}
