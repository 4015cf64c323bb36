namespace SharpOptim.Distributed;

/// <summary>
/// One worker's side of a distributed algorithm (D-SGD, gradient tracking, FedAvg, DiLoCo, …), created per rank over
/// that rank's <see cref="WorkerProblem"/> and <see cref="ICommunicator"/>. The driver calls <see cref="Round"/> on
/// every rank in lockstep; a round is the algorithm's natural unit (one gossip step, one federated round, one
/// DiLoCo outer step of H inner steps). The same code runs on <see cref="InProcessWorld"/> and under <c>mpirun</c>.
/// </summary>
public interface IDistributedAlgorithm
{
    /// <summary>Short name as shown by <c>sharpoptim list</c> and accepted by the <c>dist</c> command.</summary>
    string Name { get; }

    /// <summary>Runs one round on this worker and returns the number of local stochastic gradients it evaluated.</summary>
    int Round();

    /// <summary>
    /// Writes the parameters this worker would report (its local model for gossip methods, the global model for
    /// federated and DiLoCo-style methods) into <paramref name="into"/> (length <see cref="WorkerProblem.Length"/>),
    /// without communicating.
    /// </summary>
    void CopyReportedParametersTo(Span<float> into);
}
