namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// One event-driven run of <see cref="EventDrivenExperiments"/> (DADAO, its gradient-tracking baseline, SA-SRRW):
/// the method's label, graph, ℓ2 weight μ, seed, whether the error reached the target and the totals there (network
/// gradient evaluations and pairwise communications, each an exchange of one d-vector each way over one edge), the
/// curve, and method constants (L, χ₁, χ₂, the tuned step, …) by name.
/// </summary>
public sealed record EventDrivenRun(string Method, string Graph, double Mu, int Seed, bool Reached, long Gradients, long Communications,
    IReadOnlyList<EventDrivenRunPoint> Curve, IReadOnlyDictionary<string, double> Constants);
