namespace SharpOptim.Distributed;

/// <summary>A non-blocking collective in flight (MPI's request): poll with <see cref="Test"/>, or block with <see cref="Wait"/>.</summary>
public interface IPendingOperation
{
    /// <summary>True once the operation has completed (then its buffer may be used); never blocks.</summary>
    bool Test();

    /// <summary>Blocks until the operation completes; returns at once if it already has.</summary>
    void Wait();
}
