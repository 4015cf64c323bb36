using System.Globalization;
using SharpOptim.Bilevel;
using SharpOptim.Tasks.Bilevel;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Bilevel;

/// <summary>
/// Data hyper-cleaning on digits (<see cref="HyperCleaningTask"/>) with each method's configuration. Per-example
/// hypergradients are O(1/n_tr), so upper steps are written as multiples of n_tr = 900; lower steps use 1/L with L the
/// lower loss's smoothness bound computed from the data. Deterministic methods (AID-CG, ITD) run full batch; the
/// stochastic ones use batches of 64 on both levels.
/// </summary>
internal sealed class HyperCleaningBench : IBilevelBenchTask
{
    private readonly HyperCleaningTask _task;
    private readonly double _l;

    public HyperCleaningBench(int seed)
    {
        _task = HyperCleaningTask.Digits(seed);
        _l = _task.LowerSmoothness();
    }

    public string Name => "hyperclean";
    public int UpperCount => _task.ValCount;
    public int LowerCount => _task.TrainCount;
    public string Headline => "test_acc";
    public IReadOnlyList<string> TableMetrics => new[] { "test_acc", "auc", "upper_loss" };
    public IReadOnlyList<string> DefaultMethods => new[] { "aid-cg", "itd", "stocbio", "soba", "ma-soba", "bo-rep", "f2sa" };

    public BilevelProblem CreateProblem(BatchStream upper, BatchStream lower) => _task.CreateProblem(upper, lower);

    public IReadOnlyDictionary<string, double> Evaluate(Tensor x, Tensor y) => new Dictionary<string, double>
    {
        ["upper_loss"] = _task.ValidationLoss(y),
        ["test_acc"] = _task.TestAccuracy(y),
        ["auc"] = _task.WeightAuc(x),
        ["test_loss"] = _task.TestLoss(y),
    };

    public IReadOnlyList<(string Name, IReadOnlyDictionary<string, double> Metrics)> Baselines()
    {
        var list = new List<(string, IReadOnlyDictionary<string, double>)>();
        foreach (bool cleanOnly in new[] { false, true })
        {
            using var w = _task.TrainWithFixedWeights(cleanOnly);
            list.Add((cleanOnly ? "clean-only (oracle)" : "noisy labels (all weights 1)", new Dictionary<string, double>
            {
                ["upper_loss"] = _task.ValidationLoss(w),
                ["test_acc"] = _task.TestAccuracy(w),
                ["test_loss"] = _task.TestLoss(w),
            }));
        }
        return list;
    }

    public (int Upper, int Lower) BatchSizes(string method) => method is "aid-cg" or "itd" or "aid-neumann" or "aid-fixed-point" ? (0, 0) : (64, 64);

    public (BilevelSolver Solver, int Iterations, string Config) CreateSolver(string method, BilevelProblem problem)
    {
        double n = _task.TrainCount, a = 1 / _l;
        string F(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
        switch (method)
        {
            case "aid-cg":
                return (new HypergradientDescent(problem, new AidConjugateGradient(20, a, cgIterations: 10), StepSchedule.Constant(50 * n)), 150,
                    $"D=20 inner GD steps of 1/L={F(a)}, CG 10 iterations (warm start), β=50·n_tr, full batch");
            case "aid-neumann":
                return (new HypergradientDescent(problem, new AidNeumann(20, a, terms: 20, eta: a), StepSchedule.Constant(50 * n)), 150,
                    $"D=20 inner steps of 1/L, Q=20 terms η=1/L, β=50·n_tr, full batch");
            case "aid-fixed-point":
                return (new HypergradientDescent(problem, new AidFixedPoint(20, a, iterations: 20), StepSchedule.Constant(50 * n)), 150,
                    $"D=20 inner steps of 1/L, K=20 iterations, β=50·n_tr, full batch");
            case "itd":
                return (new HypergradientDescent(problem, new IterativeDifferentiation(50, a), StepSchedule.Constant(50 * n)), 150,
                    $"D=50 inner GD steps of 1/L={F(a)} (warm start), reverse through all 50, β=50·n_tr, full batch");
            case "stocbio":
                return (new HypergradientDescent(problem, new StocBiO(10, a, terms: 20, eta: a), StepSchedule.Constant(10 * n)), 1000,
                    $"D=10 SGD steps of 1/L, Q=20 Neumann factors η=1/L (independent batches), β=10·n_tr, batch 64");
            case "soba":
                return (new Soba(problem, StepSchedule.Constant(a), StepSchedule.Constant(5 * n)), 5000,
                    $"ρ=1/L={F(a)}, γ=5·n_tr constant, batch 64");
            case "ma-soba":
                return (new MaSoba(problem, StepSchedule.Constant(5 * n), StepSchedule.Constant(a), StepSchedule.Constant(a), averaging: 0.1), 5000,
                    $"α=5·n_tr, β=γ=1/L={F(a)}, θ=0.1, batch 64");
            case "bo-rep":
                return (new BoRep(problem, StepSchedule.Constant(0.5), systemLr: a, momentum: 0.9, innerLr: a, period: 2, innerSteps: 2, initSteps: 20), 5000,
                    $"η=0.5 (normalized), ν=ν_y=1/L={F(a)}, β=0.9, I=2, N=2, 20 initial steps, batch 64");
            case "f2sa":
                return (new F2sa(problem, StepSchedule.Constant(a / 100), StepSchedule.Constant(a), StepSchedule.Constant(20 * n), initialPenalty: 100,
                        penaltyGrowth: StepSchedule.Constant(1), innerSteps: 3, maxPenalty: 100, sharedLowerBatch: true), 2000,
                    $"T=3, λ fixed at 100 (λ_max = λ_0), α=1/(100L) so that αλ = γ = 1/L (y and z, both from W = 0, move at the same rate), ξ=20·n_tr, batch 64, one lower batch for both ∇_x g terms");
            default:
                throw new UsageException($"bilevel: unknown method '{method}'; valid: aid-cg, aid-neumann, aid-fixed-point, itd, stocbio, soba, ma-soba, bo-rep, f2sa.");
        }
    }

    public void Dispose() => _task.Dispose();
}
