namespace SharpOptim.Analysis;

/// <summary>The optimization-analysis tools, as <c>sharpoptim list</c> shows them.</summary>
public static class AnalysisMethods
{
    /// <summary>Every tool of the Analysis family.</summary>
    public static IReadOnlyList<MethodEntry> All { get; } = new MethodEntry[]
    {
        new("Analysis", "gd-phase-diagram", "Analysis.GradientDescentCubicMap", "Chen, Balasubramanian, Ghosal & Agrawalla, From Stability to Chaos: Analyzing Gradient Descent Dynamics in Quadratic Regression (arXiv:2310.01687); map derived for 1-D phase retrieval, boundaries our analysis", Reconstruction: true),
        new("Analysis", "hessian-blocks", "Analysis.HessianSpectrum", "Zhang, Chen, Ding, Li, Sun & Luo, Why Transformers Need Adam: A Hessian Perspective (arXiv:2402.16788): blockwise SLQ spectra, JS distance between blocks; Rademacher probes, full reorthogonalisation and the asinh axis are ours"),
        new("Analysis", "rxtx", "Analysis.Rxtx", "Rybin, Zhang & Luo, XX^t Can Be Faster (arXiv:2505.09814), Algorithm 1: X·Xᵀ with 8 recursive calls and 26 general block products; zero padding for sizes not divisible by 4 is ours"),
    };
}
