using SharpOptim.Checkpoints;
using SharpOptim.Tasks.Models;
using SharpOptim.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// One checkpoint resumes a whole run: AdamW inside Lookahead, an EMA of the weights, OneCycleLR (which also cycles
/// β1) and the model. A run interrupted halfway, saved, and resumed into freshly built (differently initialised)
/// objects ends bit for bit where the uninterrupted run ends; a damaged file changes nothing.
/// </summary>
[Collection("checkpoint-hook")]
public sealed class CheckpointRunResumeTests : IDisposable
{
    private const int Steps = 10;
    private readonly string _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"sharpoptim-run-{Guid.NewGuid():N}")).FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class Run : IDisposable
    {
        public Run(int seed)
        {
            Model = TestModels.Regression(seed);
            Optimizer = new Optimizers.AdamW(Model.named_parameters(), lr: 0.01, weight_decay: 0.01);
            Lookahead = new Lookahead(Optimizer, k: 3, alpha: 0.5);
            Ema = new ExponentialMovingAverage(Model.named_parameters(), decay: 0.9, warmup: true);
            Scheduler = optim.lr_scheduler.OneCycleLR(Optimizer, max_lr: 0.05, total_steps: Steps + 2, cycle_momentum: true);
            State = new TrainingState { Optimizer = Optimizer, Lookahead = Lookahead, Ema = Ema, Scheduler = Scheduler, Model = Model };
        }

        public Mlp Model { get; }
        public Optimizers.AdamW Optimizer { get; }
        public Lookahead Lookahead { get; }
        public ExponentialMovingAverage Ema { get; }
        public optim.lr_scheduler.LRScheduler Scheduler { get; }
        public TrainingState State { get; }

        /// <summary>Training step <paramref name="t"/> on its own batch (drawn from a generator seeded by t, so a
        /// resumed run sees the batches the uninterrupted one saw); returns the loss bits.</summary>
        public int Step(int t)
        {
            using var scope = NewDisposeScope();
            var g = new Generator(1000 + (ulong)t);
            var x = randn(new long[] { 16, 4 }, generator: g);
            var y = x.sum(1, keepdim: true).sin();
            Lookahead.zero_grad();
            var loss = nn.functional.mse_loss(Model.forward(x), y);
            loss.backward();
            Lookahead.step();
            Ema.Update();
            Scheduler.step();
            return BitConverter.SingleToInt32Bits(loss.item<float>());
        }

        /// <summary>Everything the run holds, as a checkpoint writes it: optimizer state and options (the learning
        /// rate and β1 OneCycleLR set), model, Lookahead, EMA and the scheduler's fields.</summary>
        public byte[] Everything()
        {
            using var m = new MemoryStream();
            Checkpoint.WritePayload(m, State);
            return m.ToArray();
        }

        public void Dispose()
        {
            Ema.Dispose();
            Lookahead.Dispose();
            Optimizer.Dispose();
            Model.Dispose();
        }
    }

    [Fact]
    public void AResumedRunEndsBitForBitWhereTheUninterruptedRunEnds()
    {
        using var straight = new Run(5);
        var losses = new List<int>();
        for (int t = 0; t < Steps; t++) losses.Add(straight.Step(t));

        string path = Path.Combine(_dir, "run.ckpt");
        using (var first = new Run(5))
        {
            for (int t = 0; t < Steps / 2; t++) first.Step(t);
            Checkpoint.Save(path, first.State);
        }
        using var resumed = new Run(6);
        resumed.Step(0);   // a different history, so that anything the load leaves alone shows
        Assert.NotEqual(straight.Everything(), resumed.Everything());
        Checkpoint.Load(path, resumed.State);
        Assert.Equal(Steps / 2, resumed.Optimizer.StepCount);
        Assert.Equal(Steps / 2, resumed.Lookahead.InnerSteps);
        Assert.Equal(Steps / 2, resumed.Ema.Updates);
        var resumedLosses = new List<int>();
        for (int t = Steps / 2; t < Steps; t++) resumedLosses.Add(resumed.Step(t));

        Assert.Equal(losses.Skip(Steps / 2), resumedLosses);
        Assert.Equal(straight.Everything(), resumed.Everything());
        Assert.Equal(straight.Scheduler.get_last_lr(), resumed.Scheduler.get_last_lr());
        // The step crossed a Lookahead synchronisation (k = 3) and OneCycleLR's peak after the save.
        Assert.Equal(straight.Optimizer.ParamGroups.Single().LearningRate, resumed.Optimizer.ParamGroups.Single().LearningRate);
    }

    [Fact]
    public void AFileWithoutTheNewSectionsIsFormat1AndAFileWithThemFormat2()
    {
        using var run = new Run(7);
        run.Step(0);
        string v1 = Path.Combine(_dir, "v1.ckpt"), v2 = Path.Combine(_dir, "v2.ckpt");
        Checkpoint.Save(v1, run.Optimizer, run.Model);
        Checkpoint.Save(v2, run.State);
        Assert.Equal(1, BitConverter.ToInt32(File.ReadAllBytes(v1), 8));
        Assert.Equal(2, BitConverter.ToInt32(File.ReadAllBytes(v2), 8));
        Assert.Equal(31, BitConverter.ToInt32(File.ReadAllBytes(v2), 12));
        // A format-1 file resumes the optimizer and model of a TrainingState that asks for nothing else.
        using var other = new Run(8);
        Checkpoint.Load(v1, new TrainingState { Optimizer = other.Optimizer, Model = other.Model });
        Assert.Equal(TestModels.StateSnapshot(run.Optimizer), TestModels.StateSnapshot(other.Optimizer));
        // A part the file lacks, or a section with nowhere to go, is refused before anything changes.
        var before = other.Everything();
        Assert.Throws<InvalidDataException>(() => Checkpoint.Load(v1, other.State));
        Assert.Throws<ArgumentException>(() => Checkpoint.Load(v2, new TrainingState { Optimizer = other.Optimizer, Model = other.Model }));
        Assert.Equal(before, other.Everything());
        // A Lookahead around another optimizer is a caller's mistake.
        Assert.Throws<ArgumentException>(() => Checkpoint.Save(v2, new TrainingState { Optimizer = other.Optimizer, Lookahead = run.Lookahead }));
    }

    /// <summary>
    /// Every byte of the header and of the new sections (Lookahead, EMA, scheduler) replaced by three other values,
    /// and the payload cut at every length, each resealed with a valid length and SHA-256 so the damage reaches the
    /// parser: each file either loads (a changed tensor byte is a valid file) or throws InvalidDataException and
    /// leaves every part of the run exactly as it was.
    /// </summary>
    [Fact]
    public void EveryDamagedFileLoadsOrThrowsInvalidDataExceptionAndChangesNothing()
    {
        using var source = new Run(11);
        for (int t = 0; t < 4; t++) source.Step(t);
        string path = Path.Combine(_dir, "good.ckpt");
        Checkpoint.Save(path, source.State);
        var payload = CraftedCheckpoints.Payload(File.ReadAllBytes(path));
        int oldSections;
        using (var m = new MemoryStream())
        {
            Checkpoint.WritePayload(m, new TrainingState { Optimizer = source.Optimizer, Model = source.Model });
            oldSections = (int)m.Length;
        }

        using var target = new Run(12);
        for (int t = 0; t < 2; t++) target.Step(t);
        string baseline = Path.Combine(_dir, "baseline.ckpt");
        Checkpoint.Save(baseline, target.State);
        var expected = target.Everything();

        var cases = new List<(string Name, byte[] File)>();
        for (int i = 8; i < payload.Length; i++)
        {
            if (i >= 16 && i < oldSections) continue;   // the optimizer and model sections: CheckpointCraftedFileTests
            foreach (byte v in new byte[] { (byte)~payload[i], 0x00, 0x80 }.Distinct().Where(v => v != payload[i]))
            {
                var damaged = (byte[])payload.Clone();
                damaged[i] = v;
                cases.Add(($"byte {i} = 0x{v:X2}", CraftedCheckpoints.Seal(damaged)));
            }
        }
        for (int n = 0; n < payload.Length; n++) cases.Add(($"cut to {n} bytes", CraftedCheckpoints.Seal(payload.AsSpan(0, n))));

        int loaded = 0, rejected = 0;
        var wrong = new List<string>();
        foreach (var (name, file) in cases)
        {
            try
            {
                using var stream = new MemoryStream(file, writable: false);
                Checkpoint.Load(stream, "damaged.ckpt", target.State);
                loaded++;
                Checkpoint.Load(baseline, target.State);
            }
            catch (InvalidDataException e)
            {
                rejected++;
                if (!e.Message.Contains("damaged.ckpt", StringComparison.Ordinal)) wrong.Add($"{name}: message does not name the file: {e.Message}");
                if (!target.Everything().AsSpan().SequenceEqual(expected)) wrong.Add($"{name}: the failed load changed the run");
            }
#pragma warning disable CA1031 // Every other exception type is the failure this test looks for.
            catch (Exception e)
#pragma warning restore CA1031
            {
                wrong.Add($"{name}: {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {cases.Count} damaged files went wrong; first: {string.Join(" | ", wrong.Take(5))}");
        Assert.True(rejected > cases.Count / 2, $"{rejected} rejected, {loaded} loaded of {cases.Count}");
        Assert.Equal(expected, target.Everything());
        // And the good file still resumes the source's run.
        Checkpoint.Load(path, target.State);
        Assert.Equal(source.Everything(), target.Everything());
    }

    [Fact]
    public void ASchedulerThatHoldsOtherSchedulersIsRefusedWhenSaving()
    {
        using var run = new Run(13);
        var chained = optim.lr_scheduler.SequentialLR(run.Optimizer, new[] { optim.lr_scheduler.StepLR(run.Optimizer, 2), optim.lr_scheduler.ExponentialLR(run.Optimizer, 0.9) }, new[] { 3 });
        string path = Path.Combine(_dir, "chained.ckpt");
        var e = Assert.Throws<ArgumentException>(() => Checkpoint.Save(path, new TrainingState { Optimizer = run.Optimizer, Scheduler = chained }));
        Assert.Contains("holds other schedulers", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(path));
    }
}
