namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// One point of an event-driven run's curve (<see cref="EventDrivenRun"/>): gradient evaluations and pairwise
/// communications so far (network totals), and the error, (1/n) Σ_i ‖x_i − x*‖² for DADAO and its baseline, ‖θ_n − θ*‖²
/// for SA-SRRW's token.
/// </summary>
public sealed record EventDrivenRunPoint(long Gradients, long Communications, double Error);
