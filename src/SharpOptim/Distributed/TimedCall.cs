namespace SharpOptim.Distributed;

/// <summary>
/// One call a <see cref="TimedCommunicator"/> made on the communicator it wraps: what it was, when it was entered and
/// left (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> ticks, a machine-wide monotonic clock on Linux, so
/// ticks of ranks in different processes on one machine are comparable), and what it waits for: the collective's
/// number (every rank numbers its collectives 0, 1, 2, … in call order, so equal numbers are the same collective;
/// a <see cref="TimedCallKind.AllReduceTest"/>/<see cref="TimedCallKind.AllReduceWait"/> carries the number of the
/// all-reduce it completes; −1 for point-to-point calls), the tag and the ranks it receives from and sends to.
/// </summary>
/// <param name="Kind">The call.</param>
/// <param name="Collective">The collective's number, or −1 for point-to-point calls.</param>
/// <param name="Tag">The message tag (point-to-point calls), else 0.</param>
/// <param name="Sources">Ranks it receives from (in-neighbours, the pairwise source); empty for collectives.</param>
/// <param name="Destinations">Ranks it sends to (out-neighbours, the pairwise destination); empty for collectives.</param>
/// <param name="EntryTicks">Timestamp on entering the call.</param>
/// <param name="ExitTicks">Timestamp on leaving it.</param>
/// <param name="InWindow">Whether the call fell inside a recording window (<see cref="TimedCommunicator.StartWindow"/>):
/// only those are counted in the breakdown; the others are kept so that messages can still be matched.</param>
public sealed record TimedCall(TimedCallKind Kind, long Collective, int Tag, int[] Sources, int[] Destinations,
    long EntryTicks, long ExitTicks, bool InWindow)
{
    /// <summary>Ticks spent inside the call.</summary>
    public long DurationTicks => ExitTicks - EntryTicks;
}
