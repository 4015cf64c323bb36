namespace SharpOptim;

/// <summary>What <see cref="CpuThreads.UsePassiveWaiting"/> found and did.</summary>
public enum WaitPolicyOutcome
{
    /// <summary><see cref="CpuThreads.UsePassiveWaiting"/> has not been called: libgomp waits its own way (spins
    /// about 300,000 times, then sleeps), unless the environment says otherwise.</summary>
    NotRequested,

    /// <summary><c>OMP_WAIT_POLICY=PASSIVE</c> was set before libtorch's OpenMP runtime was loaded: idle OpenMP
    /// threads sleep at once.</summary>
    SetPassive,

    /// <summary>The environment already had <c>OMP_WAIT_POLICY</c> or <c>GOMP_SPINCOUNT</c>; that choice was kept.</summary>
    UserChoice,

    /// <summary>libtorch's OpenMP runtime was already loaded, so its wait policy could no longer be changed; call
    /// <see cref="CpuThreads.UsePassiveWaiting"/> before the first TorchSharp call, or set OMP_WAIT_POLICY=PASSIVE
    /// before the process starts.</summary>
    TooLate,
}
