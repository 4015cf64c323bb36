using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Distributed;

/// <summary>
/// FedSpeed: Sun, Shen, Huang, Ding, Tao, "FedSpeed: Larger Local Interval, Less Communication Round, and Higher
/// Generalization Accuracy", ICLR 2023, arXiv 2302.10429; implemented from the official code
/// (woodenchild95/FL-Simulator: <c>client/fedspeed.py</c>, <c>server/FedSpeed.py</c>, <c>optimizer/ESAM.py</c>) as
/// summarised in ../shared/papers/distributed.md §9. Each rank is one client; the server's state is replicated on
/// every rank (all ranks compute the same global model from one all-reduce), and client i's dual variable h_i lives
/// on rank i (only client i ever changes it).
/// <para>Round t: the participating set S_t is drawn (each client with probability
/// <see cref="FedSpeedOptions.ParticipationRate"/>, redrawn if empty; same draw on every rank). A participant starts
/// from w_start = w and, with c_i = h_i − w_start, runs K steps on its own mini-batches:</para>
/// <code>g₁ = ∇f(w);  e = ρ·g₁/(‖g₁‖ + 1e-7);  g₂ = ∇f(w + e);  g = (1 − α)·g₁ + α·g₂ + lamb·c_i;
/// g ← g·min(1, M/(‖g‖ + 1e-6));  w ← w − η_t·(g + (wd + lamb)·w)</code>
/// <para>then h_i ← h_i + (w_K − w_start). Server: <c>w ← mean_{i∈S_t} w_{i,K} + mean_{all i} h_i</c> (one all-reduce of
/// [1{i∈S_t}·w_{i,K}, h_i]). η_t = η·decay^t. With lamb = 0, ρ = 0 and the server term off this is FedAvg with the
/// simulator's SGD (clip, weight decay) — tested.</para>
/// Deviations: (1) K counts mini-batch steps (the code counts local epochs over the client's loader); (2) after the
/// ascent the weights are restored exactly (the code subtracts e again, which can differ in the last bit);
/// (3) <see cref="FedSpeedOptions.MergeWeight"/> adds the paper's merged gradient as an option (the official client
/// is α = 1, the default); (4) relaxed initialisation (<c>use_RI</c>, off by default in the code) is not implemented;
/// (5) aggregation is the code's unweighted mean over participants (not weighted by data size).
/// (6) with ρ = 0 the second gradient is not evaluated (it would be the first one again). The <see cref="WorkerProblem"/>
/// constructor accepts only ρ = 0, since its loss draws a new batch per call; <c>sharpoptim dist</c> uses the
/// batch-source constructor (the rank's <c>DistributedAlgorithmContext.NextBatch</c>), so it runs any ρ.
/// Reported parameters: the global model w.
/// </summary>
public sealed class FedSpeed : IDistributedAlgorithm
{
    private readonly ICommunicator _communicator;
    private readonly WorkerProblem _problem;
    private readonly Func<Func<Tensor>> _nextBatch;
    private readonly FedSpeedOptions _options;
    private readonly float[] _global;
    private readonly float[] _dual;
    private readonly float[] _w;
    private readonly float[] _g1;
    private readonly float[] _g2;
    private readonly float[] _correction;
    private readonly float[] _buffer;
    private int _round;

    /// <summary>
    /// Client <paramref name="communicator"/>.Rank training <paramref name="model"/>; <paramref name="nextBatch"/> draws
    /// the client's next mini-batch and returns a closure giving the loss on it at the current weights (FedSpeed needs
    /// two gradients on the same batch).
    /// </summary>
    public FedSpeed(ICommunicator communicator, nn.Module model, Func<Func<Tensor>> nextBatch, FedSpeedOptions options)
        : this(communicator, new WorkerProblem(model ?? throw new ArgumentNullException(nameof(model)), () => nextBatch()()), nextBatch, options)
    {
    }

    /// <summary>
    /// Client over a <see cref="WorkerProblem"/>, whose loss draws a new mini-batch at every call: this form cannot
    /// take two gradients on the same batch, so it accepts only <see cref="FedSpeedOptions.Rho"/> = 0 (no SAM ascent:
    /// the prox/dual correction and the server term of FedSpeed, one gradient per step) and rejects anything else.
    /// </summary>
    public FedSpeed(ICommunicator communicator, WorkerProblem problem, FedSpeedOptions options)
        : this(communicator, problem, () => (problem ?? throw new ArgumentNullException(nameof(problem))).NextLoss, options)
    {
        if (options.Rho != 0)
            throw new ArgumentException(FormattableString.Invariant($"Rho = {options.Rho}: FedSpeed's ascent step needs two gradients on the same mini-batch, which a WorkerProblem (a new batch per loss) cannot give; use Rho = 0 or the constructor with a batch source."), nameof(options));
    }

    private FedSpeed(ICommunicator communicator, WorkerProblem problem, Func<Func<Tensor>> nextBatch, FedSpeedOptions options)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(nextBatch);
        ArgumentNullException.ThrowIfNull(options);
        if (options.LocalSteps < 1) throw new ArgumentOutOfRangeException(nameof(options), options.LocalSteps, "LocalSteps (K) must be at least 1.");
        if (!double.IsFinite(options.Lr) || options.Lr <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.Lr, "Lr must be positive and finite.");
        if (!double.IsFinite(options.LrDecay) || options.LrDecay <= 0 || options.LrDecay > 1) throw new ArgumentOutOfRangeException(nameof(options), options.LrDecay, "LrDecay must lie in (0, 1].");
        if (!double.IsFinite(options.WeightDecay) || options.WeightDecay < 0) throw new ArgumentOutOfRangeException(nameof(options), options.WeightDecay, "WeightDecay must be non-negative and finite.");
        if (!double.IsFinite(options.Lamb) || options.Lamb < 0) throw new ArgumentOutOfRangeException(nameof(options), options.Lamb, "Lamb must be non-negative and finite.");
        if (!double.IsFinite(options.Rho) || options.Rho < 0) throw new ArgumentOutOfRangeException(nameof(options), options.Rho, "Rho must be non-negative and finite.");
        if (double.IsNaN(options.MaxGradNorm) || options.MaxGradNorm <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.MaxGradNorm, "MaxGradNorm must be positive (+∞ for no clip).");
        if (!double.IsFinite(options.MergeWeight) || options.MergeWeight < 0 || options.MergeWeight > 1) throw new ArgumentOutOfRangeException(nameof(options), options.MergeWeight, "MergeWeight must lie in [0, 1].");
        if (!double.IsFinite(options.ParticipationRate) || options.ParticipationRate <= 0 || options.ParticipationRate > 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.ParticipationRate, "ParticipationRate must lie in (0, 1].");
        _communicator = communicator;
        _nextBatch = nextBatch;
        _options = options;
        _problem = problem;
        int d = _problem.Length;
        _global = new float[d];
        _dual = new float[d];
        _w = new float[d];
        _g1 = new float[d];
        _g2 = new float[d];
        _correction = new float[d];
        _buffer = new float[2 * d];
        _problem.CopyParametersTo(_global);
    }

    /// <inheritdoc/>
    public string Name => "fedspeed";

    /// <summary>The clients taking part in round <paramref name="round"/> (ascending), the same on every rank.</summary>
    public static int[] Participants(long seed, long round, int clients, double rate)
    {
        if (clients < 1) throw new ArgumentOutOfRangeException(nameof(clients), clients, "at least one client is needed.");
        if (!(rate > 0 && rate <= 1)) throw new ArgumentOutOfRangeException(nameof(rate), rate, "the participation rate must lie in (0, 1].");
        var stream = new NoLoCoDeterministicStream(seed, round);
        while (true)
        {
            var picked = Enumerable.Range(0, clients).Where(_ => stream.NextUniform() < rate).ToArray();
            if (picked.Length > 0) return picked;
        }
    }

    /// <inheritdoc/>
    public int Round()
    {
        int d = _problem.Length;
        var participants = Participants(_options.Seed, _round, _communicator.Size, _options.ParticipationRate);
        bool participating = participants.Contains(_communicator.Rank);
        int gradients = 0;
        if (participating)
        {
            double lr = _options.Lr * Math.Pow(_options.LrDecay, _round);
            _global.CopyTo(_w);
            for (int k = 0; k < d; k++) _correction[k] = _dual[k] - _global[k];
            for (int step = 0; step < _options.LocalSteps; step++) { LocalStep(lr); gradients += _options.Rho == 0 ? 1 : 2; }
            for (int k = 0; k < d; k++)
            {
                _dual[k] += _w[k] - _global[k];
                _buffer[k] = _w[k];
            }
        }
        else Array.Clear(_buffer, 0, d);
        _dual.CopyTo(_buffer, d);
        _communicator.AllReduceSum(_buffer);
        double inverseS = 1.0 / participants.Length, inverseN = 1.0 / _communicator.Size;
        for (int k = 0; k < d; k++)
            _global[k] = (float)(_buffer[k] * inverseS + (_options.ServerCorrection ? _buffer[d + k] * inverseN : 0.0));
        _problem.SetParameters(_global);
        _round++;
        return gradients;
    }

    private void LocalStep(double lr)
    {
        int d = _w.Length;
        var loss = _nextBatch();
        Gradient(loss, _w, _g1);
        double norm = Math.Sqrt(_g1.Sum(g => (double)g * g));
        double scale = _options.Rho / (norm + 1e-7);
        if (_options.Rho == 0) _g1.CopyTo(_g2); // e = 0: the same point and batch, so the same gradient
        else
        {
            var perturbed = new float[d];
            for (int k = 0; k < d; k++) perturbed[k] = _w[k] + (float)(_g1[k] * scale);
            Gradient(loss, perturbed, _g2);
        }
        double alpha = _options.MergeWeight, lamb = _options.Lamb;
        double total = 0;
        for (int k = 0; k < d; k++)
        {
            float g = (float)((1 - alpha) * _g1[k] + alpha * _g2[k] + lamb * _correction[k]);
            _g2[k] = g;
            total += (double)g * g;
        }
        double clip = Math.Min(1.0, _options.MaxGradNorm / (Math.Sqrt(total) + 1e-6));
        double decay = _options.WeightDecay + lamb;
        for (int k = 0; k < d; k++) _w[k] = (float)(_w[k] - lr * (_g2[k] * clip + decay * _w[k]));
    }

    private void Gradient(Func<Tensor> loss, float[] at, float[] into)
    {
        _problem.SetParameters(at);
        _problem.Model.zero_grad();
        using (var scope = NewDisposeScope()) loss().backward();
        _problem.CopyGradientsTo(into);
    }

    /// <inheritdoc/>
    public void CopyReportedParametersTo(Span<float> into)
    {
        if (into.Length != _global.Length) throw new ArgumentException(FormattableString.Invariant($"expected {_global.Length} floats; got {into.Length}."), nameof(into));
        _global.CopyTo(into);
    }
}
