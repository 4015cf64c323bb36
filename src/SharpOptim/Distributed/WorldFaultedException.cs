namespace SharpOptim.Distributed;

/// <summary>Thrown by a blocking call of a rank whose <see cref="InProcessWorld"/> another rank has faulted; <see cref="Exception.InnerException"/> is the cause.</summary>
public sealed class WorldFaultedException(Exception cause)
    : Exception($"the in-process world was faulted: {cause.Message}", cause);
