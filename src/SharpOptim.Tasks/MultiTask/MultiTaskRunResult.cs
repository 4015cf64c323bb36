namespace SharpOptim.Tasks.MultiTask;

/// <summary>One training run of the multi-task benchmark.</summary>
public sealed class MultiTaskRunResult
{
    /// <summary>The balancer's name ("stl" for a single-task reference).</summary>
    public required string Balancer { get; init; }
    /// <summary>For single-task references, the task trained alone (index); otherwise null.</summary>
    public int? SingleTask { get; init; }
    /// <summary>The seed (model initialisation and batch order).</summary>
    public required int Seed { get; init; }
    /// <summary>Steps completed.</summary>
    public int Steps { get; set; }
    /// <summary>Whether the run stopped on a non-finite loss.</summary>
    public bool Diverged { get; set; }
    /// <summary>Whether every requested step ran.</summary>
    public bool Completed { get; set; }
    /// <summary>Test metrics of every task after the last step.</summary>
    public double[] FinalMetrics { get; set; } = Array.Empty<double>();
    /// <summary>(step, test metrics) at each evaluation.</summary>
    public List<(int Step, double[] Metrics)> Evaluations { get; } = new();
    /// <summary>Σ_t L_t of each step's batch.</summary>
    public List<double> TrainLoss { get; } = new();
    /// <summary>The weights each step applied (null entries for PCGrad).</summary>
    public List<double[]?> Weights { get; } = new();
    /// <summary>Wall milliseconds of each step (forward, balancing, backward passes, optimizer step; evaluation excluded).</summary>
    public List<double> StepMs { get; } = new();
    /// <summary>The passes of one step (they are the same every step).</summary>
    public string Passes { get; set; } = "";
    /// <summary>Full, head-only and trunk-only backward passes and extra head forwards per step.</summary>
    public (int Full, int Head, int Trunk, int HeadForward) PassCounts { get; set; }
    /// <summary>PCGrad only: mean fraction of ordered task pairs whose gradients conflicted.</summary>
    public double? ConflictFraction { get; set; }
    /// <summary>Median step time after the first 10 steps.</summary>
    public double MedianStepMs
    {
        get
        {
            var xs = StepMs.Skip(Math.Min(10, StepMs.Count / 2)).OrderBy(x => x).ToList();
            return xs.Count == 0 ? double.NaN : xs[xs.Count / 2];
        }
    }
}
