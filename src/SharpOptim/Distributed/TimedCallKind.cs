namespace SharpOptim.Distributed;

/// <summary>Which <see cref="ICommunicator"/> call a <see cref="TimedCall"/> records.</summary>
public enum TimedCallKind
{
    /// <summary>Blocking all-reduce (<see cref="ICommunicator.AllReduceSum"/>).</summary>
    AllReduce,

    /// <summary>Start of a non-blocking all-reduce (<see cref="ICommunicator.AllReduceSumAsync"/>): returns at once.</summary>
    AllReduceStart,

    /// <summary><see cref="IPendingOperation.Test"/> of a non-blocking all-reduce: never blocks.</summary>
    AllReduceTest,

    /// <summary><see cref="IPendingOperation.Wait"/> of a non-blocking all-reduce.</summary>
    AllReduceWait,

    /// <summary>Pairwise exchange (<see cref="ICommunicator.SendReceive"/>).</summary>
    SendReceive,

    /// <summary>Gossip exchange (<see cref="ICommunicator.NeighbourExchange"/>).</summary>
    NeighbourExchange,

    /// <summary><see cref="ICommunicator.Broadcast"/>.</summary>
    Broadcast,

    /// <summary><see cref="ICommunicator.Barrier"/>.</summary>
    Barrier,
}
