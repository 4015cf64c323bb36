using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Distributed;

/// <summary>
/// DiLoCo, one worker's side. Paper: Douillard, Feng, Rusu, Chhaparia, Donchev, Kuncoro, Ranzato, Szlam, Shen,
/// "DiLoCo: Distributed Low-Communication Training of Language Models", arXiv 2311.08105 (2023). No official code;
/// the update follows two implementations that agree (pytorch/torchft <c>torchft/local_sgd.py</c> class DiLoCo, and
/// gensyn-ai/noloco <c>diloco_optimizer.py</c>):
/// <para>outer step t: every worker sets θ_i ← θ^(t−1) and runs H inner steps of its own inner optimizer (AdamW by
/// default; its state is kept across outer steps and never averaged); outer gradient Δ = (1/k) Σ_i (θ^(t−1) − θ_i)
/// (one all-reduce); outer SGD with PyTorch's Nesterov semantics: b ← μ b + Δ (b = Δ on the first step),
/// θ^(t) = θ^(t−1) − η_out (Δ + μ b) (without Nesterov: − η_out b). Every worker computes the same θ^(t).</para>
/// Defaults of the paper (as torchft's train_diloco.py reproduces them): inner AdamW lr 4e-4, weight decay 0.1, betas
/// (0.9, 0.95); outer lr 0.7, momentum 0.9, Nesterov; H = 500 — here H and the inner rates are arguments (a small
/// task needs a larger inner rate and a smaller H). No warm-up or cosine schedule of the inner rate (the paper's
/// schedule is the caller's: pass a factory that builds a scheduled optimizer). With outer lr 1 and momentum 0 this is
/// periodic model averaging (= <see cref="FedAvg"/> with full participation and the same inner optimizer).
/// Communication: one all-reduce of d floats per H inner steps.
/// </summary>
public sealed class DiLoCo : IDistributedAlgorithm
{
    private readonly WorkerProblem _problem;
    private readonly ICommunicator _comm;
    private readonly int _innerSteps;
    private readonly double _outerLr, _momentum;
    private readonly bool _nesterov;
    private readonly optim.Optimizer _inner;
    private readonly float[] _theta, _local, _delta, _buffer;
    private bool _hasBuffer;

    /// <summary>
    /// Worker <c>comm.Rank</c>'s side with AdamW(lr, betas, eps 1e-8, weight decay) inner steps; all workers start
    /// from rank 0's parameters (broadcast here, a collective call).
    /// </summary>
    public DiLoCo(WorkerProblem problem, ICommunicator comm, int innerSteps, double innerLr = 4e-4, double innerWeightDecay = 0.1,
        double outerLr = 0.7, double outerMomentum = 0.9, bool nesterov = true, double beta1 = 0.9, double beta2 = 0.95)
        : this(problem, comm, innerSteps, ValidatedAdamW(problem, innerLr, innerWeightDecay, beta1, beta2), outerLr, outerMomentum, nesterov)
    {
    }

    /// <summary>As the other constructor with the inner optimizer built by <paramref name="innerOptimizer"/> over the problem's parameters.</summary>
    public DiLoCo(WorkerProblem problem, ICommunicator comm, int innerSteps, Func<IReadOnlyList<Parameter>, optim.Optimizer> innerOptimizer,
        double outerLr = 0.7, double outerMomentum = 0.9, bool nesterov = true)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(innerOptimizer);
        DistributedKernels.CheckWorld(comm, null, "DiLoCo");
        if (innerSteps < 1) throw new ArgumentOutOfRangeException(nameof(innerSteps), innerSteps, "DiLoCo: innerSteps (H) must be at least 1.");
        DistributedKernels.CheckPositive(outerLr, nameof(outerLr), "DiLoCo");
        if (!(outerMomentum >= 0 && outerMomentum < 1)) throw new ArgumentOutOfRangeException(nameof(outerMomentum), outerMomentum, "DiLoCo: outerMomentum must lie in [0, 1).");
        _problem = problem;
        _comm = comm;
        _innerSteps = innerSteps;
        _outerLr = outerLr;
        _momentum = outerMomentum;
        _nesterov = nesterov;
        _local = new float[problem.Length];
        _delta = new float[problem.Length];
        _buffer = new float[problem.Length];
        _theta = DistributedKernels.CommonStart(problem, comm);
        _inner = innerOptimizer(problem.Parameters);
    }

    /// <inheritdoc />
    public string Name => "diloco";

    /// <inheritdoc />
    public int Round()
    {
        _problem.SetParameters(_theta);
        for (int s = 0; s < _innerSteps; s++)
        {
            using var scope = NewDisposeScope();
            _inner.zero_grad();
            var loss = _problem.NextLoss();
            loss.backward();
            _inner.step();
        }
        _problem.CopyParametersTo(_local);
        for (int i = 0; i < _theta.Length; i++) _delta[i] = _theta[i] - _local[i];
        _comm.AllReduceSum(_delta);
        int k = _comm.Size;
        for (int i = 0; i < _theta.Length; i++)
        {
            float d = (float)((double)_delta[i] / k);
            float b = _hasBuffer ? (float)(_momentum * _buffer[i] + d) : d;
            _buffer[i] = b;
            double step = _nesterov ? d + _momentum * b : b;
            _theta[i] = (float)(_theta[i] - _outerLr * (float)step);
        }
        _hasBuffer = true;
        return _innerSteps;
    }

    /// <inheritdoc />
    public void CopyReportedParametersTo(Span<float> into) => _theta.CopyTo(into);

    private static Func<IReadOnlyList<Parameter>, optim.Optimizer> ValidatedAdamW(WorkerProblem problem, double lr, double weightDecay, double beta1, double beta2)
    {
        ArgumentNullException.ThrowIfNull(problem);
        DistributedKernels.CheckPositive(lr, "innerLr", "DiLoCo");
        DistributedKernels.CheckNonNegative(weightDecay, "innerWeightDecay", "DiLoCo");
        return ps => new SharpOptim.Optimizers.AdamW(ps, lr, beta1, beta2, 1e-8, weightDecay);
    }
}
