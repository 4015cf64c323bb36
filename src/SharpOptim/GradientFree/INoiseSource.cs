namespace SharpOptim.GradientFree;

/// <summary>
/// Where a gradient-free method's perturbations come from: standard normal numbers addressed by a key, so that any
/// perturbation can be regenerated (for the update, for a restore, after a resume) instead of being stored. The key is
/// (<c>generation</c>, <c>tensor</c>, <c>member</c>); what each part means is set by the method (for ES the step, the
/// parameter index and the antithetic pair; for MeZO the step, the parameter index and the direction; for CBO the
/// step, the particle batch and the particle). <see cref="CounterNoise"/> is the library's source; tests inject a
/// table from a PyTorch fixture (the random streams of PyTorch and TorchSharp differ).
/// </summary>
public interface INoiseSource
{
    /// <summary>Fills <paramref name="destination"/> with the standard normal numbers of the key; the same key always
    /// gives the same numbers, on any thread count, and a longer destination extends a shorter one.</summary>
    void Fill(Span<float> destination, long generation, int tensor, int member);
}
