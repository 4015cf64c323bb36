namespace SharpOptim.Distributed;

/// <summary>
/// Where one rank's measured wall time went (<see cref="TimeBreakdown.Analyze"/>): <see cref="ComputeSeconds"/> outside
/// every communicator call (local gradients, optimizer and vector work), <see cref="CommunicationSeconds"/> inside calls
/// while the data could move, and <see cref="WaitSeconds"/> inside calls before the last partner had arrived (blocked on
/// slower ranks). By construction Compute + Communication + Wait = Wall, each part ≥ 0.
/// </summary>
/// <param name="Rank">The rank.</param>
/// <param name="WallSeconds">Total length of the recording windows.</param>
/// <param name="ComputeSeconds">Wall time outside communicator calls.</param>
/// <param name="CommunicationSeconds">Time inside calls after every partner had entered its matching call.</param>
/// <param name="WaitSeconds">Time inside calls before the last partner entered its matching call.</param>
/// <param name="Calls">Communicator calls inside the windows.</param>
/// <param name="CollectiveCalls">Of those, global synchronisations (all-reduce, blocking or started, broadcast, barrier).</param>
public sealed record RankTimeBreakdown(int Rank, double WallSeconds, double ComputeSeconds, double CommunicationSeconds,
    double WaitSeconds, int Calls, int CollectiveCalls)
{
    /// <summary>Communication and waiting over wall time (0 when nothing was measured).</summary>
    public double CommunicationFraction => WallSeconds > 0 ? (CommunicationSeconds + WaitSeconds) / WallSeconds : 0;
}
