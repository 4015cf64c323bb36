using SharpOptim.Bilevel;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Bilevel;

/// <summary>A real bilevel task as the bilevel command runs it: a problem per run, metrics of an iterate, reference
/// baselines, and each method's default configuration on this task.</summary>
internal interface IBilevelBenchTask : IDisposable
{
    string Name { get; }
    /// <summary>Samples of the upper and lower level (for minibatches).</summary>
    int UpperCount { get; }
    int LowerCount { get; }
    BilevelProblem CreateProblem(BatchStream upper, BatchStream lower);
    /// <summary>Metrics of (x, y), by name; "upper_loss" (full validation loss) and the task's headline metric first.</summary>
    IReadOnlyDictionary<string, double> Evaluate(Tensor x, Tensor y);
    /// <summary>Reference points that are not bilevel methods (trained baselines, grid searches), with their metrics.</summary>
    IReadOnlyList<(string Name, IReadOnlyDictionary<string, double> Metrics)> Baselines();
    /// <summary>The metric the table and plots lead with (e.g. test_acc), and the metrics the table shows.</summary>
    string Headline { get; }
    IReadOnlyList<string> TableMetrics { get; }
    /// <summary>The methods this task runs by default.</summary>
    IReadOnlyList<string> DefaultMethods { get; }
    /// <summary>A solver of <paramref name="method"/> with this task's configuration, its iteration count, and a one-line description.</summary>
    (BilevelSolver Solver, int Iterations, string Config) CreateSolver(string method, BilevelProblem problem);
    /// <summary>Batch sizes of the upper and lower level for <paramref name="method"/> (0: full batch).</summary>
    (int Upper, int Lower) BatchSizes(string method);
}
