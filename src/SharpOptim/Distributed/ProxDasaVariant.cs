namespace SharpOptim.Distributed;

/// <summary>Which of the Prox-DASA family <see cref="ProxDasa"/> runs.</summary>
public enum ProxDasaVariant
{
    /// <summary>Prox-DASA (official <c>methods/proxdasa.py</c>).</summary>
    ProxDasa,

    /// <summary>
    /// Prox-DASA-GT in the paper's intent (recommended; a reconstruction, see <see cref="ProxDasa"/>): the averaging
    /// step uses the tracked gradient u_i, z_i ← (1 − α) z_i + α u_i.
    /// </summary>
    GradientTracking,

    /// <summary>
    /// Prox-DASA-GT exactly as the official <c>methods/proxdasagt.py</c> codes it: u_i is updated and gossiped but the
    /// averaging step still uses g_i, so u never influences the iterates (kept for parity with the repository).
    /// </summary>
    GradientTrackingAsCoded,
}
