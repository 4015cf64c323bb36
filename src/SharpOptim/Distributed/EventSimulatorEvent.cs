namespace SharpOptim.Distributed;

/// <summary>
/// One event of an asynchronous run (<see cref="EventSimulator"/>): at <paramref name="Time"/>, either a local gradient
/// step at <paramref name="Node"/> (<paramref name="IsGradient"/>, <paramref name="Peer"/> = −1) or a pairwise
/// communication on the edge (<paramref name="Node"/>, <paramref name="Peer"/>).
/// </summary>
public readonly record struct EventSimulatorEvent(double Time, bool IsGradient, int Node, int Peer);
