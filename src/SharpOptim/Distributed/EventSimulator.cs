using System.Globalization;
using System.Text;

namespace SharpOptim.Distributed;

/// <summary>
/// The event simulator of ../shared/papers/distributed.md §16 for asynchronous methods (DADAO): two independent
/// Poisson clocks on [0, horizon] — gradient events at rate λ_grad, each at a uniformly drawn node, and communication
/// events at rate λ_mix, each on a uniformly drawn edge — merged in time order (exponential inter-arrival times
/// −ln(u)/λ, as the official DADAO code's <c>create_asynchronous_jump_processes</c>). Seeded, so a run is reproducible,
/// and exportable as a CSV list (time, kind, node, peer) that reference scripts can replay.
/// </summary>
public static class EventSimulator
{
    /// <summary>The merged events of the two clocks up to <paramref name="horizon"/> (or until <paramref name="maxEvents"/>).</summary>
    public static List<EventSimulatorEvent> PoissonClocks(int nodes, IReadOnlyList<(int I, int J)> edges, double gradientRate,
        double communicationRate, double horizon, int seed, int maxEvents = 1_000_000)
    {
        ArgumentNullException.ThrowIfNull(edges);
        if (nodes < 1) throw new ArgumentOutOfRangeException(nameof(nodes), nodes, "at least one node is needed.");
        if (!(gradientRate >= 0) || double.IsInfinity(gradientRate)) throw new ArgumentOutOfRangeException(nameof(gradientRate), gradientRate, "the gradient rate must be finite and non-negative.");
        if (!(communicationRate >= 0) || double.IsInfinity(communicationRate)) throw new ArgumentOutOfRangeException(nameof(communicationRate), communicationRate, "the communication rate must be finite and non-negative.");
        if (!(horizon >= 0) || double.IsInfinity(horizon)) throw new ArgumentOutOfRangeException(nameof(horizon), horizon, "the horizon must be finite and non-negative.");
        if (communicationRate > 0 && edges.Count == 0) throw new ArgumentException("communication events need at least one edge.", nameof(edges));
        foreach (var (i, j) in edges)
            if (i < 0 || j < 0 || i >= nodes || j >= nodes || i == j)
                throw new ArgumentException(FormattableString.Invariant($"edge ({i}, {j}) is not a pair of distinct nodes in [0, {nodes})."), nameof(edges));
        var random = new Random(seed);
        var events = new List<EventSimulatorEvent>();
        if (gradientRate > 0)
            for (double t = Next(random, gradientRate, 0); t <= horizon && events.Count < maxEvents; t = Next(random, gradientRate, t))
                events.Add(new EventSimulatorEvent(t, true, random.Next(nodes), -1));
        int gradients = events.Count;
        if (communicationRate > 0)
            for (double t = Next(random, communicationRate, 0); t <= horizon && events.Count - gradients < maxEvents; t = Next(random, communicationRate, t))
            {
                var (i, j) = edges[random.Next(edges.Count)];
                events.Add(new EventSimulatorEvent(t, false, i, j));
            }
        events.Sort((a, b) => a.Time.CompareTo(b.Time));
        if (events.Count > maxEvents) events.RemoveRange(maxEvents, events.Count - maxEvents);
        return events;
    }

    private static double Next(Random random, double rate, double t) => t - Math.Log(1 - random.NextDouble()) / rate;

    /// <summary>The events as CSV: a header line, then <c>time,kind,node,peer</c> with kind <c>g</c> or <c>c</c> (round-trip doubles).</summary>
    public static string ToCsv(IEnumerable<EventSimulatorEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        var sb = new StringBuilder("time,kind,node,peer\n");
        foreach (var e in events)
            sb.Append(e.Time.ToString("R", CultureInfo.InvariantCulture)).Append(',').Append(e.IsGradient ? 'g' : 'c').Append(',')
              .Append(e.Node.ToString(CultureInfo.InvariantCulture)).Append(',').Append(e.Peer.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return sb.ToString();
    }

    /// <summary>Reads what <see cref="ToCsv"/> wrote; a malformed line raises an error naming its number.</summary>
    public static List<EventSimulatorEvent> FromCsv(string csv)
    {
        ArgumentNullException.ThrowIfNull(csv);
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0 || lines[0].Trim() != "time,kind,node,peer") throw new FormatException("an event list starts with the header 'time,kind,node,peer'.");
        var events = new List<EventSimulatorEvent>(lines.Length - 1);
        for (int k = 1; k < lines.Length; k++)
        {
            var f = lines[k].Trim().Split(',');
            if (f.Length != 4 || (f[1] != "g" && f[1] != "c")
                || !double.TryParse(f[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double t)
                || !int.TryParse(f[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out int node)
                || !int.TryParse(f[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out int peer))
                throw new FormatException(FormattableString.Invariant($"event line {k + 1} is malformed: '{lines[k]}'."));
            events.Add(new EventSimulatorEvent(t, f[1] == "g", node, peer));
        }
        return events;
    }
}
