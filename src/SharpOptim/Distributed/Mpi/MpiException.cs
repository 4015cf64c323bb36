namespace SharpOptim.Distributed.Mpi;

/// <summary>An MPI call returned an error code: the message names the call, the code and Open MPI's text for it
/// (<c>MPI_Error_string</c>). <see cref="MpiCommunicator"/> sets <c>MPI_ERRORS_RETURN</c> on its communicator, so
/// errors come back as codes and are raised as this exception instead of aborting inside the library.</summary>
public sealed class MpiException : Exception
{
    /// <summary>An error of <paramref name="call"/> with MPI error code <paramref name="errorCode"/>.</summary>
    public MpiException(string call, int errorCode, string errorText)
        : base($"{call} failed with MPI error {errorCode}: {errorText}")
    {
        Call = call;
        ErrorCode = errorCode;
    }

    /// <summary>The MPI function that failed, e.g. <c>MPI_Allreduce</c>.</summary>
    public string Call { get; }

    /// <summary>The error code it returned.</summary>
    public int ErrorCode { get; }
}
