using System.Diagnostics;
using SharpOptim.Optimizers;
using SharpOptim.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Tasks;

/// <summary>Progress of a run, reported after each step.</summary>
/// <param name="Step">Steps taken so far.</param>
/// <param name="Loss">The last training-batch loss.</param>
/// <param name="Seconds">Training seconds so far.</param>
public readonly record struct StepProgress(int Step, double Loss, double Seconds);

/// <summary>
/// The training loop behind <c>sharpoptim compare</c>: zero_grad → forward on the next batch → cross-entropy →
/// backward → (schedule) → step, timing the training work only and evaluating on the held-out split every
/// <c>evalEvery</c> steps and at the end. Sophia gets its Hessian estimate every 10 steps, as the paper and official
/// code do (Gauss-Newton-Bartlett from labels sampled from the model, or Hutchinson on the training loss).
/// A NaN or infinite loss, or an optimizer refusing a non-finite gradient, ends the run as diverged.
/// </summary>
public static class TaskTrainer
{
    /// <summary>Steps between Sophia's Hessian estimates (the paper's k).</summary>
    public const int SophiaHessianInterval = 10;

    /// <summary>Trains <paramref name="run"/>'s model with <paramref name="optimizer"/> for up to
    /// <paramref name="steps"/> steps; stops early, returning what it has, when <paramref name="cancel"/> fires.
    /// <paramref name="evaluate"/> chooses the held-out split of the evaluations (default <see cref="TaskRun.Evaluate"/>,
    /// the test split; tuning passes <see cref="TaskRun.EvaluateValidation"/>); <paramref name="tensorboard"/>, when
    /// given, receives loss, learning rate, gradient norm and state bytes after every step and each evaluation
    /// (<c>eval_loss</c>, <c>eval_accuracy</c>).</summary>
    public static RunResult Train(TaskRun run, optim.Optimizer optimizer, int steps, ISchedule? schedule = null,
        int evalEvery = 0, Action<StepProgress>? progress = null, CancellationToken cancel = default,
        Func<TaskRun, Evaluation>? evaluate = null, Training.TensorBoardLog? tensorboard = null)
    {
        evaluate ??= r => r.Evaluate();
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(optimizer);
        if (steps <= 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, "steps must be positive.");
        if (evalEvery < 0) throw new ArgumentOutOfRangeException(nameof(evalEvery), evalEvery, "evalEvery must be 0 (end only) or positive.");
        var evals = new List<(int, double, double)>();
        void Evaluated(int step, Evaluation e)
        {
            evals.Add((step, e.Loss, e.Accuracy));
            tensorboard?.Scalar("eval_loss", e.Loss, step);
            tensorboard?.Scalar("eval_accuracy", e.Accuracy, step);
        }
        var driver = schedule is null ? null : new ScheduleDriver(optimizer, schedule);
        var parameters = run.Model.parameters().ToList();
        var losses = new List<double>(steps);
        var seconds = new List<double>(steps);
        var norms = new List<double>(steps);
        var clock = new Stopwatch();
        bool diverged = false;
        for (int s = 0; s < steps && !cancel.IsCancellationRequested && !diverged; s++)
        {
            clock.Start();
            double loss, norm;
            using (var scope = NewDisposeScope())
            {
                optimizer.zero_grad();
                var l = run.TrainLoss();
                loss = l.item<float>();
                if (!double.IsFinite(loss))
                {
                    diverged = true;
                    clock.Stop();
                    break;
                }
                l.backward();
                clock.Stop();   // the gradient norm is bookkeeping for schedule refinement, not part of the optimizer's cost
                using (no_grad())
                using (var held = new ScalarHold())
                {
                    var two = held[2];
                    var grads = parameters.Where(p => p.grad is not null).Select(p => p.grad!.pow(two).sum()).ToList();
                    norm = grads.Count == 0 ? 0 : Math.Sqrt(stack(grads).sum().item<float>());
                }
                clock.Start();
                driver?.Step();
                try
                {
                    optimizer.step();
                    if (optimizer is Sophia sophia && (s + 1) % SophiaHessianInterval == 0) EstimateHessian(run, sophia);
                }
                catch (NonFiniteGradientException)
                {
                    diverged = true;
                    clock.Stop();
                    break;
                }
            }
            clock.Stop();
            losses.Add(loss);
            norms.Add(norm);
            seconds.Add(clock.Elapsed.TotalSeconds);
            tensorboard?.Step(s + 1, loss, optimizer, norm);
            progress?.Invoke(new StepProgress(s + 1, loss, clock.Elapsed.TotalSeconds));
            if (evalEvery > 0 && (s + 1) % evalEvery == 0 && s + 1 < steps)
                Evaluated(s + 1, evaluate(run));
        }
        if (losses.Count > 0 && !diverged && (evals.Count == 0 || evals[^1].Item1 != losses.Count))
            Evaluated(losses.Count, evaluate(run));
        tensorboard?.Flush();
        return new RunResult
        {
            Losses = losses, Seconds = seconds, GradientNorms = norms, Evaluations = evals,
            Completed = losses.Count == steps && !diverged, Diverged = diverged, StateBytes = optimizer is OptimizerBase ob ? ob.StateBytes : 0,
        };
    }

    private static void EstimateHessian(TaskRun run, Sophia sophia)
    {
        if (sophia.Estimator == SophiaEstimator.Hutchinson)
        {
            sophia.UpdateHessian(() =>
            {
                var (l, t) = run.ForwardLast();
                return nn.functional.cross_entropy(l, t);
            });
            return;
        }
        // On the current batch, as the official code does, so every optimizer sees the same batch stream.
        sophia.zero_grad();
        var (logits, _) = run.ForwardLast();
        Sophia.SampledLabelLoss(logits).backward();
        sophia.UpdateHessian();
        sophia.zero_grad();
    }
}
