using System.Globalization;
using SharpOptim.Bilevel;
using SharpOptim.Tasks.Bilevel;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Bilevel;

/// <summary>
/// L2-strength tuning on breast_cancer (<see cref="L2TuningTask"/>) for one grouping, with each method's configuration:
/// λ starts at 0 (strength 1) and is kept in [−10, 4]; lower steps 1/L with L the smoothness bound at the largest
/// strength; the baseline is the best global strength on a 41-point grid over [−8, 2] (each point solved exactly).
/// </summary>
internal sealed class L2TuningBench : IBilevelBenchTask
{
    private readonly L2TuningTask _task;
    private readonly double _l;
    private readonly string _name;

    public L2TuningBench(int seed, L2Grouping grouping, string name)
    {
        _task = L2TuningTask.BreastCancer(seed, grouping);
        _l = _task.LowerSmoothness();
        _name = name;
    }

    public string Name => _name;
    public int UpperCount => _task.ValCount;
    public int LowerCount => _task.TrainCount;
    public string Headline => "test_loss_at_opt";
    public IReadOnlyList<string> TableMetrics => _task.Groups == 1
        ? new[] { "test_loss_at_opt", "val_loss_at_opt", "test_acc_at_opt", "upper_loss", "lambda_mean" }
        : new[] { "test_loss_at_opt", "val_loss_at_opt", "test_acc_at_opt", "upper_loss", "lambda_real", "lambda_noise" };
    public IReadOnlyList<string> DefaultMethods => new[] { "aid-cg", "itd", "soba", "ma-soba", "bo-rep", "f2sa" };

    public BilevelProblem CreateProblem(BatchStream upper, BatchStream lower) => _task.CreateProblem(upper, lower);

    public IReadOnlyDictionary<string, double> Evaluate(Tensor x, Tensor y)
    {
        var (val, test, acc) = _task.Metrics(y);
        var l = x.detach().data<double>().ToArray();
        // "_at_opt": at the exact lower solution w*(λ) (Newton), i.e. Φ(λ) itself, which the grid reports too; the
        // plain metrics are at the solver's current y.
        using var wStar = _task.SolveLower(x);
        var (valOpt, testOpt, accOpt) = _task.Metrics(wStar);
        var d = new Dictionary<string, double>
        {
            ["upper_loss"] = val, ["test_loss"] = test, ["test_acc"] = acc, ["lambda_mean"] = l.Average(),
            ["val_loss_at_opt"] = valOpt, ["test_loss_at_opt"] = testOpt, ["test_acc_at_opt"] = accOpt,
        };
        if (l.Length == 2) { d["lambda_real"] = l[0]; d["lambda_noise"] = l[1]; }
        if (l.Length == L2TuningTask.RealFeatures + L2TuningTask.NoiseFeatures)
        {
            d["lambda_real"] = l.Take(L2TuningTask.RealFeatures).Average();
            d["lambda_noise"] = l.Skip(L2TuningTask.RealFeatures).Average();
        }
        return d;
    }

    public IReadOnlyList<(string Name, IReadOnlyDictionary<string, double> Metrics)> Baselines()
    {
        var (l, val, test, acc) = _task.GridSearch();
        var m = new Dictionary<string, double>
        {
            ["upper_loss"] = val, ["test_loss"] = test, ["test_acc"] = acc, ["lambda_mean"] = l,
            ["val_loss_at_opt"] = val, ["test_loss_at_opt"] = test, ["test_acc_at_opt"] = acc,
        };
        if (_task.Groups == 2) { m["lambda_real"] = l; m["lambda_noise"] = l; }
        return new[] { ("grid (one global λ, 41 points in [-8, 2])", (IReadOnlyDictionary<string, double>)m) };
    }

    public (int Upper, int Lower) BatchSizes(string method) => method is "aid-cg" or "itd" or "aid-neumann" or "aid-fixed-point" ? (0, 0) : (32, 32);

    public (BilevelSolver Solver, int Iterations, string Config) CreateSolver(string method, BilevelProblem problem)
    {
        double a = 1 / _l;
        string F(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
        switch (method)
        {
            case "aid-cg" when _task.Groups == 1:
                // One global strength: Φ is flat over weak strengths, where the lower problem is ill-conditioned (μ = exp(λ) ≈ 0.01
                // against L ≈ 58 near the grid optimum λ ≈ −4.75), so 100 warm-started inner steps and 30 CG iterations miss the
                // slow modes that carry the "regularise more" part of the hypergradient and the iterate drifts past the optimum
                // (ITD, truncated the same way, ends 0.25–0.45 below it). Here: D=300 inner steps and 61 CG iterations (the
                // dimension, 60 weights + bias: CG is exact in exact arithmetic) so the hypergradient is accurate.
                return (new HypergradientDescent(problem, new AidConjugateGradient(300, a, cgIterations: 61), StepSchedule.Constant(20)), 100,
                    $"D=300 inner GD steps of 1/L={F(a)} (warm start), CG 61 iterations (= dimension), β=20, full batch");
            case "aid-cg":
                return (new HypergradientDescent(problem, new AidConjugateGradient(100, a, cgIterations: 30), StepSchedule.Constant(20)), 100,
                    $"D=100 inner GD steps of 1/L={F(a)} (warm start), CG 30 iterations, β=20, full batch");
            case "aid-neumann":
                return (new HypergradientDescent(problem, new AidNeumann(100, a, terms: 100, eta: a), StepSchedule.Constant(20)), 100,
                    $"D=100 inner steps of 1/L, Q=100 terms η=1/L, β=20, full batch");
            case "aid-fixed-point":
                return (new HypergradientDescent(problem, new AidFixedPoint(100, a, iterations: 100), StepSchedule.Constant(20)), 100,
                    $"D=100 inner steps of 1/L, K=100 iterations, β=20, full batch");
            case "itd":
                return (new HypergradientDescent(problem, new IterativeDifferentiation(100, a), StepSchedule.Constant(20)), 100,
                    $"D=100 inner GD steps of 1/L={F(a)} (warm start), reverse through all, β=20, full batch");
            case "stocbio":
                return (new HypergradientDescent(problem, new StocBiO(20, a, terms: 50, eta: a), StepSchedule.Constant(5)), 400,
                    $"D=20 SGD steps of 1/L, Q=50 η=1/L, β=5, batch 32");
            case "soba":
                return (new Soba(problem, StepSchedule.Constant(a), StepSchedule.Constant(1)), 2000,
                    $"ρ=1/L={F(a)}, γ=1 constant, batch 32");
            case "ma-soba":
                return (new MaSoba(problem, StepSchedule.Constant(1), StepSchedule.Constant(a), StepSchedule.Constant(a), averaging: 0.1), 2000,
                    $"α=1, β=γ=1/L={F(a)}, θ=0.1, batch 32");
            case "bo-rep":
                return (new BoRep(problem, StepSchedule.Constant(0.01), systemLr: a, momentum: 0.9, innerLr: a, period: 2, innerSteps: 2, initSteps: 100), 2000,
                    $"η=0.01 (normalized), ν=ν_y=1/L={F(a)}, β=0.9, I=2, N=2, 100 initial steps, batch 32");
            case "f2sa":
                return (new F2sa(problem, StepSchedule.Constant(a / 10), StepSchedule.Constant(a), StepSchedule.Constant(1), initialPenalty: 1,
                        penaltyGrowth: new StepSchedule(1, 1.0 / 7), innerSteps: 3, maxPenalty: 10, sharedLowerBatch: true), 1000,
                    $"T=3, α=1/(10L), γ=1/L, ξ=1, λ_0=1 growing by 1/(k+1)^(1/7) up to 10, batch 32, one lower batch for both ∇_x g terms");
            default:
                throw new UsageException($"bilevel: unknown method '{method}'; valid: aid-cg, aid-neumann, aid-fixed-point, itd, stocbio, soba, ma-soba, bo-rep, f2sa.");
        }
    }

    public void Dispose() => _task.Dispose();
}
