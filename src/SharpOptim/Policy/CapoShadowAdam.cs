using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// CAPO's model of the optimizer on the output layer (official code's <c>SparseAdamModel</c>, as the brief restates
/// it): Adam moments (m, v) per output-layer weight and a step count n. <see cref="Direction"/> is the bias-corrected
/// Adam step a gradient G would produce without changing the state,
/// D = (m'/(1 − β1^{n+1})) / (√(v'/(1 − β2^{n+1})) + ε) with m' = β1 m + (1 − β1) G, v' = β2 v + (1 − β2) G²; before
/// any update (n = 0) D = G. <see cref="Update"/> folds one aggregated gradient into the state. This approximates the
/// real optimizer's state (it sees the mean gradient of kept tokens, not the true batch gradient) and is not meant to
/// equal it. State: two tensors the size of the output layer plus the counter.
/// </summary>
public sealed class CapoShadowAdam : IDisposable
{
    private Tensor? _m, _v;

    /// <summary>A fresh (empty) state with Adam's β1, β2, ε.</summary>
    public CapoShadowAdam(double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        new CapoOptions { Beta1 = beta1, Beta2 = beta2, Epsilon = epsilon }.Validate();
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
    }

    /// <summary>β1.</summary>
    public double Beta1 { get; }
    /// <summary>β2.</summary>
    public double Beta2 { get; }
    /// <summary>ε.</summary>
    public double Epsilon { get; }
    /// <summary>Number of updates folded in (n).</summary>
    public long Step { get; private set; }
    /// <summary>First moment m [V, H] (null before the first update).</summary>
    public Tensor? FirstMoment => _m;
    /// <summary>Second moment v [V, H] (null before the first update).</summary>
    public Tensor? SecondMoment => _v;

    /// <summary>Sets the state (copies of <paramref name="m"/>, <paramref name="v"/>, same shape) after <paramref name="step"/> ≥ 1 updates.</summary>
    public void Load(Tensor m, Tensor v, long step)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(v);
        if (!m.shape.SequenceEqual(v.shape) || m.dtype != v.dtype)
            throw new ArgumentException($"m [{string.Join(", ", m.shape)}] {m.dtype} and v [{string.Join(", ", v.shape)}] {v.dtype} must have one shape and dtype.", nameof(v));
        if (step < 1) throw new ArgumentException($"step = {step}; a loaded state has at least one update.", nameof(step));
        _m?.Dispose();
        _v?.Dispose();
        _m = m.detach().clone().DetachFromDisposeScope();
        _v = v.detach().clone().DetachFromDisposeScope();
        Step = step;
    }

    /// <summary>The Adam direction D for gradients <paramref name="g"/> [..., V, H] (broadcast over leading dimensions).</summary>
    public Tensor Direction(Tensor g)
    {
        ArgumentNullException.ThrowIfNull(g);
        if (_m is null || Step == 0) return g.clone();
        CheckShape(g.shape.Skip((int)g.dim() - 2).ToArray(), nameof(g));
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var m = _m.to(g.dtype).mul(s[Beta1]).add(g, s[1 - Beta1]);
        var v = _v!.to(g.dtype).mul(s[Beta2]).add(g.mul(g), s[1 - Beta2]);
        double c1 = 1 - Math.Pow(Beta1, Step + 1), c2 = 1 - Math.Pow(Beta2, Step + 1);
        return m.div(s[c1]).div(v.div(s[c2]).sqrt().add(s[Epsilon], s[1])).MoveToOuterDisposeScope();
    }

    /// <summary>Folds the aggregated gradient <paramref name="g"/> [V, H] into the state: m ← β1 m + (1 − β1) g,
    /// v ← β2 v + (1 − β2) g², n ← n + 1.</summary>
    public void Update(Tensor g)
    {
        ArgumentNullException.ThrowIfNull(g);
        if (g.dim() != 2) throw new ArgumentException($"the aggregated gradient must be [V, H]; got [{string.Join(", ", g.shape)}].", nameof(g));
        if (_m is not null) CheckShape(g.shape, nameof(g));
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var gd = g.detach();
        var m = (_m is null ? zeros_like(gd) : _m).mul(s[Beta1]).add(gd, s[1 - Beta1]);
        var v = (_v is null ? zeros_like(gd) : _v).mul(s[Beta2]).add(gd.mul(gd), s[1 - Beta2]);
        _m?.Dispose();
        _v?.Dispose();
        _m = m.DetachFromDisposeScope();
        _v = v.DetachFromDisposeScope();
        Step++;
    }

    private void CheckShape(long[] shape, string name)
    {
        if (!shape.SequenceEqual(_m!.shape))
            throw new ArgumentException($"{name} has trailing shape [{string.Join(", ", shape)}]; the shadow state is [{string.Join(", ", _m.shape)}].", name);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _m?.Dispose();
        _v?.Dispose();
        _m = _v = null;
    }
}
