using System.Diagnostics;

namespace SharpOptim.Distributed;

/// <summary>
/// Splits each rank's wall time into compute, communication and blocked-in-wait from the call logs of
/// <see cref="TimedCommunicator"/>s of all ranks of one run, without adding any synchronisation to the run.
/// <para>Rule (the "late sender"/"wait at collective" split of trace analysers such as Scalasca): a call cannot
/// finish before every partner has entered its matching call, so the part of a call before the last partner's entry
/// is waiting for slower ranks, the rest is communication. Partners: for a collective (all-reduce, broadcast, barrier,
/// and the <see cref="IPendingOperation.Wait"/> of a non-blocking all-reduce) every rank's call with the same
/// collective number; for a gossip or pairwise exchange, the in-neighbours' (source's) calls that sent the messages it
/// receives — the k-th message from rank j with tag t is the k-th call of rank j that sends to this rank with tag t.
/// Sends are buffered or eager in both backends, so a sender does not wait for its receiver; starting a non-blocking
/// all-reduce and <see cref="IPendingOperation.Test"/> never wait. wait = clamp(last partner's entry − own entry,
/// 0, call duration); communication = duration − wait; compute = window wall time − Σ durations.</para>
/// <para>Timestamps of different ranks are compared directly, which is right for the in-process simulator and for
/// processes on one Linux machine (<see cref="Stopwatch"/> reads the machine-wide monotonic clock); ranks on different
/// machines would need synchronised clocks, which this does not attempt.</para>
/// </summary>
public static class TimeBreakdown
{
    /// <summary>
    /// The breakdown of every rank; <paramref name="calls"/>[r] and <paramref name="windowTicks"/>[r] are rank r's
    /// <see cref="TimedCommunicator.Calls"/> and <see cref="TimedCommunicator.WindowTicks"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The logs do not belong together: different numbers of ranks, a collective
    /// missing on some rank, or a received message that no rank's log sent.</exception>
    public static IReadOnlyList<RankTimeBreakdown> Analyze(IReadOnlyList<IReadOnlyList<TimedCall>> calls, IReadOnlyList<long> windowTicks)
    {
        ArgumentNullException.ThrowIfNull(calls);
        ArgumentNullException.ThrowIfNull(windowTicks);
        int n = calls.Count;
        if (n == 0) throw new ArgumentException("no ranks' call logs were given.", nameof(calls));
        if (windowTicks.Count != n)
            throw new ArgumentException(FormattableString.Invariant($"{n} call logs but {windowTicks.Count} window lengths."), nameof(windowTicks));

        // The last entry of every collective over all ranks, and how many ranks entered it.
        var lastEntry = new Dictionary<long, (long Entry, int Ranks)>();
        // Per (source, destination, tag): the entry times of the source's sending calls, in order.
        var sends = new Dictionary<(int, int, int), List<long>>();
        for (int r = 0; r < n; r++)
            foreach (var c in calls[r])
            {
                if (IsCollectiveEntry(c.Kind))
                {
                    lastEntry.TryGetValue(c.Collective, out var le);
                    lastEntry[c.Collective] = (Math.Max(le.Entry, c.EntryTicks), le.Ranks + 1);
                }
                foreach (int d in c.Destinations)
                {
                    if (!sends.TryGetValue((r, d, c.Tag), out var list)) sends[(r, d, c.Tag)] = list = new List<long>();
                    list.Add(c.EntryTicks);
                }
            }
        foreach (var (seq, le) in lastEntry)
            if (le.Ranks != n)
                throw new ArgumentException(FormattableString.Invariant($"collective #{seq} was entered by {le.Ranks} of {n} ranks; the logs do not belong to one run."), nameof(calls));

        var result = new RankTimeBreakdown[n];
        double perTick = 1.0 / Stopwatch.Frequency;
        for (int r = 0; r < n; r++)
        {
            var received = new Dictionary<(int, int), int>();
            long callTicks = 0, waitTicks = 0;
            int count = 0, collectives = 0;
            foreach (var c in calls[r])
            {
                long ready = long.MinValue;
                if (c.Kind is TimedCallKind.AllReduce or TimedCallKind.AllReduceWait or TimedCallKind.Broadcast or TimedCallKind.Barrier)
                {
                    if (!lastEntry.TryGetValue(c.Collective, out var le))
                        throw new ArgumentException(FormattableString.Invariant($"rank {r} waits for collective #{c.Collective}, which no rank started."), nameof(calls));
                    ready = le.Entry;
                }
                foreach (int s in c.Sources)
                {
                    received.TryGetValue((s, c.Tag), out int k);
                    received[(s, c.Tag)] = k + 1;
                    if (!sends.TryGetValue((s, r, c.Tag), out var list) || k >= list.Count)
                        throw new ArgumentException(FormattableString.Invariant($"rank {r} received message {k + 1} from rank {s} with tag {c.Tag}, which rank {s}'s log never sent."), nameof(calls));
                    ready = Math.Max(ready, list[k]);
                }
                if (!c.InWindow) continue;
                long duration = c.DurationTicks;
                long wait = ready == long.MinValue ? 0 : Math.Clamp(ready - c.EntryTicks, 0, duration);
                callTicks += duration;
                waitTicks += wait;
                count++;
                if (IsCollectiveEntry(c.Kind)) collectives++;
            }
            long wall = windowTicks[r];
            if (callTicks > wall)
                throw new ArgumentException(FormattableString.Invariant($"rank {r}: calls inside the windows last {callTicks} ticks, longer than the windows ({wall}); the window lengths do not belong to these logs."), nameof(windowTicks));
            result[r] = new RankTimeBreakdown(r, wall * perTick, (wall - callTicks) * perTick, (callTicks - waitTicks) * perTick, waitTicks * perTick, count, collectives);
        }
        return result;
    }

    private static bool IsCollectiveEntry(TimedCallKind kind) =>
        kind is TimedCallKind.AllReduce or TimedCallKind.AllReduceStart or TimedCallKind.Broadcast or TimedCallKind.Barrier;
}
