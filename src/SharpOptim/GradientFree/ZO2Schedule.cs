using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.GradientFree;

/// <summary>
/// The ZO2 execution schedule for MeZO: Wang, Ren, Xu, Wang, Xie, Keyes and Wang, "ZO2: Scalable Zeroth-Order
/// Fine-Tuning for Extremely Large Language Models with Limited GPU Memory", COLM 2025, arXiv:2503.12668; official code
/// liangyuwang/zo2 (<c>zo2/optimizer/mezo_sgd/zo2.py</c>: <c>module_dual_forward</c>, <c>zo_forward</c>). Not a new
/// update rule: the MeZO trajectory, executed stage by stage.
/// <para>Per step t, for each stage in forward order (<c>module_dual_forward</c>): (a) the deferred update of step
/// t−1 is applied to the stage's parameters (z regenerated from that step's keys, that step's projected gradient and
/// learning rate — MeZO's semantics; the official code uses the learning rate current at step t, a one-step lag of
/// the schedule); (b) θ ← θ + εz_t, out⁺ = stage(in⁺); (c) θ ← θ − 2εz_t, out⁻ = stage(in⁻); (d) θ ← θ + εz_t. Both
/// activation streams travel through the network together; the loss is applied to both; g_t = (ℓ⁺ − ℓ⁻)/(2ε) is
/// applied lazily during step t+1, block by block, while the block is "loaded" anyway. Each stage's parameters are
/// touched once per step (one load) instead of three times (forward +, forward −, update) in a naive offloaded MeZO.</para>
/// <para>Every parameter sees exactly the float operations MeZO applies to it, in the same order, so after
/// <see cref="Flush"/> the parameters equal MeZO's bit for bit (a test checks this). The pending update must be
/// flushed before evaluation or checkpointing (the official evaluation path does not flush; here
/// <see cref="Flush"/> is explicit and <see cref="Save"/> flushes).</para>
/// <para>Compact store (<c>compactStore: true</c>; the CPU analogue of the official offloading): the parameters
/// of stages not in use are kept serialized in one contiguous off-heap file and their tensors own no memory; each
/// stage is loaded just before its dual forward (where the deferred update and the perturbations are applied) and
/// written back and freed right after, so about one stage's parameters are resident during a step
/// (<see cref="PeakResidentParameterBytes"/>) instead of all of them. The store is lossless (float32 bytes as they
/// are), so the trajectory stays MeZO's bit for bit. Not done (CPU-only library): the official code's
/// upload/compute/offload streams (prefetching the next block while one computes) and its fp16 AMP store, which
/// is lossy (brief §4.5).</para>
/// </summary>
public sealed class ZO2Schedule : IDisposable
{
    private readonly MeZO _mezo;
    private readonly ZO2Stage[] _stages;
    private readonly int[][] _indices;
    private readonly ZO2ParameterStore? _store;
    private (long Step, double[] G, double Lr)? _pending;

    /// <summary>Schedules <paramref name="mezo"/> (one direction, no inner optimizer) over <paramref name="stages"/>,
    /// which must own every MeZO parameter exactly once; with <paramref name="compactStore"/>, idle stages'
    /// parameters are kept in the off-heap store (contiguous CPU parameters only).</summary>
    public ZO2Schedule(MeZO mezo, IEnumerable<ZO2Stage> stages, bool compactStore = false)
    {
        ArgumentNullException.ThrowIfNull(mezo);
        ArgumentNullException.ThrowIfNull(stages);
        if (mezo.Directions != 1) throw new ArgumentException(FormattableString.Invariant($"zo2: the schedule runs MeZO with one direction; got {mezo.Directions}."), nameof(mezo));
        if (mezo.HasInner) throw new ArgumentException("zo2: the schedule runs plain ZO-SGD; this MeZO has an inner optimizer.", nameof(mezo));
        _mezo = mezo;
        _stages = stages.ToArray();
        if (_stages.Length == 0) throw new ArgumentException("zo2: no stages.", nameof(stages));
        var seen = new HashSet<int>();
        _indices = _stages.Select(st => st.Parameters.Select(p =>
        {
            int j = mezo.IndexOf(p);
            if (j < 0) throw new ArgumentException($"zo2: stage '{st.Name}' has a parameter MeZO does not optimise.", nameof(stages));
            if (!seen.Add(j)) throw new ArgumentException($"zo2: parameter '{mezo.NamedParameters[j].Name}' belongs to two stages (tied weights must be handled once).", nameof(stages));
            return j;
        }).ToArray()).ToArray();
        var missing = Enumerable.Range(0, mezo.NamedParameters.Count).Where(j => !seen.Contains(j)).Select(j => mezo.NamedParameters[j].Name).ToList();
        if (missing.Count > 0) throw new ArgumentException($"zo2: no stage owns {string.Join(", ", missing)}.", nameof(stages));
        if (compactStore) _store = new ZO2ParameterStore(mezo.NamedParameters.Select(p => p.Parameter).ToArray());
    }

    /// <summary>Whether idle stages live in the compact store.</summary>
    public bool UsesCompactStore => _store is not null;

    /// <summary>Bytes of the scheduled parameters currently in memory (all of them without the store).</summary>
    public long ResidentParameterBytes => _store?.ResidentBytes ?? _mezo.NamedParameters.Sum(p => p.Parameter.numel() * p.Parameter.element_size());

    /// <summary>The largest <see cref="ResidentParameterBytes"/> since the last <see cref="ResetResidentPeak"/>.</summary>
    public long PeakResidentParameterBytes => _store?.PeakResidentBytes ?? ResidentParameterBytes;

    /// <summary>Starts a new peak measurement of resident parameter bytes.</summary>
    public void ResetResidentPeak() => _store?.ResetPeak();

    private void LoadStage(int i) { if (_store is not null) foreach (int j in _indices[i]) _store.Load(j); }

    private void OffloadStage(int i) { if (_store is not null) foreach (int j in _indices[i]) _store.Offload(j); }

    /// <summary>Whether an update is waiting to be applied.</summary>
    public bool HasPendingUpdate => _pending is not null;

    /// <summary>Stage loads so far: one per stage per step (the naive offloaded MeZO needs three).</summary>
    public long StageLoads { get; private set; }

    /// <summary>One step: the dual forward stage by stage, then ℓ± through <paramref name="loss"/> (applied to each
    /// stream's final output). Returns ℓ⁺.</summary>
    public double Step(Tensor input, Func<Tensor, Tensor> loss)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(loss);
        double lr = _mezo.LearningRate;
        if (!(lr >= 0) || !double.IsFinite(lr)) throw new ArgumentException(FormattableString.Invariant($"zo2: lr {lr} must be >= 0 and finite."));
        long step = _mezo.StepCount;
        double eps = _mezo.Epsilon;
        using var scope = NewDisposeScope();
        using var guard = no_grad();
        var plus = input;
        var minus = input;
        for (int i = 0; i < _stages.Length; i++) OffloadStage(i);   // after a Flush every stage is resident
        for (int i = 0; i < _stages.Length; i++)
        {
            LoadStage(i);
            if (_pending is { } pd) foreach (int j in _indices[i]) _mezo.UpdateParameter(j, pd.Step, pd.G, pd.Lr);
            Perturb(i, step, eps);
            plus = _stages[i].Forward(plus);
            Perturb(i, step, -2 * eps);
            minus = _stages[i].Forward(minus);
            Perturb(i, step, eps);
            OffloadStage(i);
            StageLoads++;
        }
        double lp = TensorValue.Of(loss(plus)), lm = TensorValue.Of(loss(minus));
        _pending = null;   // every stage has applied it
        if (!double.IsFinite(lp) || !double.IsFinite(lm))
            throw new ArgumentException(FormattableString.Invariant($"zo2: non-finite loss (ℓ⁺ = {lp}, ℓ⁻ = {lm}) at step {step}; the previous update was applied, this one is dropped."), nameof(loss));
        var g = new[] { (lp - lm) / (2 * eps) };
        _pending = (step, g, lr);
        _mezo.AdvanceStep(g);
        return lp;
    }

    private void Perturb(int stage, long step, double scale)
    {
        using var s = new ScalarHold();
        var ps = _mezo.NamedParameters;
        foreach (int j in _indices[stage])
        {
            using var z = _mezo.Direction(j, step, 0);
            ps[j].Parameter.add_(z, s[scale]);
        }
    }

    /// <summary>Applies the pending update to every stage (before evaluation, checkpointing or the end of training);
    /// with the compact store, every stage is loaded back (and stays resident until the next <see cref="Step"/>).</summary>
    public void Flush()
    {
        for (int i = 0; i < _stages.Length; i++) LoadStage(i);
        if (_pending is not { } pd) return;
        using (no_grad())
            foreach (var idx in _indices)
                foreach (int j in idx) _mezo.UpdateParameter(j, pd.Step, pd.G, pd.Lr);
        _pending = null;
    }

    /// <summary>Loads every stage back and deletes the store's file.</summary>
    public void Dispose()
    {
        if (_store is null) return;
        for (int i = 0; i < _stages.Length; i++) LoadStage(i);
        _store.Dispose();
    }

    /// <summary>Flushes, then saves the MeZO state (<see cref="MeZO.Save"/>).</summary>
    public void Save(string path)
    {
        Flush();
        _mezo.Save(path);
    }
}
