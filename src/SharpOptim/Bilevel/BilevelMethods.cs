namespace SharpOptim.Bilevel;

/// <summary>The bilevel family's methods as <c>sharpoptim list</c> shows them.</summary>
public static class BilevelMethods
{
    private const string Ji = "Ji, Yang & Liang, Bilevel Optimization: Convergence Analysis and Enhanced Design, ICML 2021 (arXiv:2010.07962)";

    private const string Hu = "Hu, Qiu, Guo, Zhang & Yang, Blockwise Stochastic Variance-Reduced Methods with Parallel Speedup for Multi-Block Bilevel Optimization, ICML 2023 (arXiv:2305.18730)";

    /// <summary>Every method of SharpOptim.Bilevel.</summary>
    public static readonly IReadOnlyList<MethodEntry> All = new MethodEntry[]
    {
        new("Bilevel", "aid-cg", "Bilevel.AidConjugateGradient", Ji),
        new("Bilevel", "aid-neumann", "Bilevel.AidNeumann", Ji),
        new("Bilevel", "aid-fixed-point", "Bilevel.AidFixedPoint", Ji + "; hypertorch fixed_point"),
        new("Bilevel", "itd", "Bilevel.IterativeDifferentiation", Ji),
        new("Bilevel", "stocbio", "Bilevel.StocBiO", Ji),
        new("Bilevel", "soba", "Bilevel.Soba", "Dagréou, Ablin, Vaiter & Moreau, A framework for bilevel optimization that enables stochastic and global variance reduction algorithms, NeurIPS 2022 (arXiv:2201.13409)"),
        new("Bilevel", "ma-soba", "Bilevel.MaSoba", "Chen, Xiao & Balasubramanian, Optimal Algorithms for Stochastic Bilevel Optimization under Relaxed Smoothness Conditions, 2023 (arXiv:2306.12067)"),
        new("Bilevel", "bo-rep", "Bilevel.BoRep", "Hao, Gong & Liu, Bilevel Optimization under Unbounded Smoothness: A New Algorithm and Convergence Analysis, ICLR 2024 (arXiv:2401.09587)"),
        new("Bilevel", "f2sa", "Bilevel.F2sa", "Kwon, Kwon, Wright & Nowak, A Fully First-Order Method for Stochastic Bilevel Optimization, ICML 2023 (arXiv:2301.10945)"),
        new("Bilevel", "bsvrb-v1", "Bilevel.Bsvrb (BsvrbVariant.V1)", Hu),
        new("Bilevel", "bsvrb-v2", "Bilevel.Bsvrb (BsvrbVariant.V2)", Hu),
        new("Bilevel", "perturbed-aid", "Bilevel.PerturbedHypergradientDescent", "Huang, Chen, Ji, Ma & Lai, Efficiently Escaping Saddle Points in Bilevel Optimization (arXiv:2202.03684); perturbed descent reconstructed from the abstract", Reconstruction: true),
        new("Bilevel", "ineon", "Bilevel.InexactNeonDescent", "Huang, Chen, Ji, Ma & Lai, Efficiently Escaping Saddle Points in Bilevel Optimization (arXiv:2202.03684); NEON-style curvature probe on inexact hypergradients reconstructed from the abstract", Reconstruction: true),
        new("Bilevel", "nested-compositional", "Bilevel.NestedCompositionalBilevel", "Chen, Balasubramanian & Ghadimi, Stochastic Nested Compositional Bi-level Optimization for Robust Feature Learning (arXiv:2307.05384); linearised moving-average multilevel scheme with a truncated-Neumann hypergradient reconstructed from the abstract", Reconstruction: true),
        new("Bilevel", "lv-hba", "Bilevel.LvHba", "Yao, Yu, Zeng & Zhang, Constrained Bi-Level Optimization: Proximal Lagrangian Value function Approach and Hessian-free Algorithm, ICLR 2024 (arXiv:2401.16164)"),
    };
}
