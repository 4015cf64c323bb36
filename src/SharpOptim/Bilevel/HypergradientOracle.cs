using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// The one place in SharpOptim.Bilevel that differentiates a <see cref="BilevelProblem"/>'s losses: first-order
/// gradients of f and g, and the second-order products of g that hypergradients need — the Hessian-vector product
/// ∇²_yy g·v and the cross (mixed) product ∇²_xy g·v — both from ONE double-backward: with ∇_y g built with
/// create_graph, s = ⟨∇_y g(x, y), v⟩ (v detached) is differentiated once more with respect to (y, x), which returns
/// (∇²_yy g·v, ∇²_xy g·v). Solvers and estimators never call <c>autograd.grad</c> themselves.
/// <para>
/// libtorch's rules that this class guards: a <c>create_graph</c> backward is always issued with
/// <c>retain_graph</c> (TorchSharp 0.107 forwards create_graph without retain_graph to libtorch, which then aborts the
/// whole process instead of raising an error); each call builds its graph on fresh leaf copies of x and y, so nothing is
/// left on the caller's tensors (no <c>.grad</c>, no retained graph) and the user's own graph is never backpropagated
/// twice; every call runs under <c>enable_grad</c>, so an oracle called inside <c>no_grad</c> still differentiates.
/// Inputs are checked before differentiation: a loss that is not a scalar floating tensor, or a lower loss whose value
/// does not depend on y (no gradient path), is an <see cref="ArgumentException"/> naming the loss. A loss that does not
/// depend on x (as a validation loss of the weights often does not) has ∇_x = 0, and a lower loss linear in y has
/// ∇²_yy g = ∇²_xy g = 0: these are values, not errors.
/// </para>
/// All results are detached tensors of x's and y's shapes; <see cref="Counts"/> tallies the calls.
/// </summary>
public sealed class HypergradientOracle
{
    private long _upper, _lower, _second;

    /// <summary>An oracle for <paramref name="problem"/>'s losses.</summary>
    public HypergradientOracle(BilevelProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        Problem = problem;
    }

    /// <summary>The problem whose losses are differentiated.</summary>
    public BilevelProblem Problem { get; }

    /// <summary>Calls answered so far.</summary>
    public OracleCounts Counts => new(_upper, _lower, _second);

    /// <summary>The upper loss f(x, y; batch) as a detached double.</summary>
    public double UpperValue(Tensor x, Tensor y, Tensor? batch)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var loss = Problem.Upper(x.detach(), y.detach(), batch);
        CheckScalar(loss, "upper loss f");
        return loss.to_type(ScalarType.Float64).item<double>();
    }

    /// <summary>The lower loss g(x, y; batch) as a detached double.</summary>
    public double LowerValue(Tensor x, Tensor y, Tensor? batch)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var loss = Problem.Lower(x.detach(), y.detach(), batch);
        CheckScalar(loss, "lower loss g");
        return loss.to_type(ScalarType.Float64).item<double>();
    }

    /// <summary>(∇_x f, ∇_y f) at (x, y) on <paramref name="batch"/>, from one backward.</summary>
    public (Tensor Dx, Tensor Dy) UpperGradient(Tensor x, Tensor y, Tensor? batch)
    {
        _upper++;
        return FirstOrder(Problem.Upper, "upper loss f", x, y, batch, requireY: false);
    }

    /// <summary>(∇_x g, ∇_y g) at (x, y) on <paramref name="batch"/>, from one backward.</summary>
    public (Tensor Dx, Tensor Dy) LowerGradient(Tensor x, Tensor y, Tensor? batch)
    {
        _lower++;
        return FirstOrder(Problem.Lower, "lower loss g", x, y, batch, requireY: true);
    }

    /// <summary>∇_y g at (x, y) on <paramref name="batch"/>.</summary>
    public Tensor LowerGradientY(Tensor x, Tensor y, Tensor? batch)
    {
        var (dx, dy) = LowerGradient(x, y, batch);
        dx.Dispose();
        return dy;
    }

    /// <summary>
    /// (∇²_yy g·v, ∇²_xy g·v) at (x, y) on <paramref name="batch"/> from one double-backward; ∇²_xy g is the
    /// dx×dy block of mixed second derivatives, so the cross product has x's shape. With
    /// <paramref name="withCross"/> false only the Hessian-vector product is formed (the second result is null).
    /// </summary>
    public (Tensor Hyy, Tensor? Hxy) LowerSecondOrder(Tensor x, Tensor y, Tensor v, Tensor? batch, bool withCross = true)
    {
        ArgumentNullException.ThrowIfNull(v);
        if (!v.shape.SequenceEqual(y.shape))
            throw new ArgumentException($"v must have y's shape [{string.Join(", ", y.shape)}], got [{string.Join(", ", v.shape)}].", nameof(v));
        _second++;
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var xl = x.detach().clone().requires_grad_(true);
        var yl = y.detach().clone().requires_grad_(true);
        var loss = Problem.Lower(xl, yl, batch);
        CheckScalar(loss, "lower loss g");
        if (!loss.requires_grad) throw NotOfY();
        // create_graph always with retain_graph: TorchSharp passes create_graph alone to libtorch, which aborts the process.
        var gy = autograd.grad(new[] { loss }, new[] { yl }, retain_graph: true, create_graph: true, allow_unused: true)[0];
        if (Missing(gy)) throw NotOfY();
        Tensor hyy, hxy;
        if (!gy.requires_grad)
        {
            // ∇_y g does not depend on (x, y): g is linear in y and both second-order blocks vanish.
            hyy = zeros_like(y);
            hxy = zeros_like(x);
        }
        else
        {
            var s = (gy * v.detach()).sum();
            var inputs = withCross ? new[] { yl, xl } : new[] { yl };
            var r = autograd.grad(new[] { s }, inputs, retain_graph: false, create_graph: false, allow_unused: true);
            hyy = Missing(r[0]) ? zeros_like(y) : r[0].detach();
            hxy = !withCross || Missing(r[1]) ? zeros_like(x) : r[1].detach();
        }
        hyy.MoveToOuterDisposeScope();
        if (!withCross) return (hyy, null);
        hxy.MoveToOuterDisposeScope();
        return (hyy, hxy);
    }

    /// <summary>
    /// The dense Hessian ∇²_yy g(x, y; batch) as an [n, n] matrix over y flattened (n = y.numel()), from one forward and
    /// n backward passes through ∇_y g (built once with create_graph and retained): for methods that need the matrix
    /// itself (BSVRB v1 inverts it), so only for small n. Counted as n second-order calls, what it costs.
    /// </summary>
    public Tensor LowerHessian(Tensor x, Tensor y, Tensor? batch)
    {
        long n = y.numel();
        _second += n;
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var xl = x.detach().clone().requires_grad_(true);
        var yl = y.detach().clone().requires_grad_(true);
        var loss = Problem.Lower(xl, yl, batch);
        CheckScalar(loss, "lower loss g");
        if (!loss.requires_grad) throw NotOfY();
        var gy = autograd.grad(new[] { loss }, new[] { yl }, retain_graph: true, create_graph: true, allow_unused: true)[0];
        if (Missing(gy)) throw NotOfY();
        Tensor h;
        if (!gy.requires_grad) h = zeros(n, n, dtype: y.dtype, device: y.device);
        else
        {
            var flat = gy.reshape(n);
            var rows = new Tensor[n];
            for (long k = 0; k < n; k++)
            {
                // retain_graph on every pass: the graph of ∇_y g is read n times (and create_graph is never set here).
                var r = autograd.grad(new[] { flat[k] }, new[] { yl }, retain_graph: true, create_graph: false, allow_unused: true)[0];
                rows[k] = Missing(r) ? zeros(n, dtype: y.dtype, device: y.device) : r.detach().reshape(n);
            }
            h = stack(rows, 0);
        }
        return h.MoveToOuterDisposeScope();
    }

    private (Tensor Dx, Tensor Dy) FirstOrder(BilevelLoss loss, string name, Tensor x, Tensor y, Tensor? batch, bool requireY)
    {
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var xl = x.detach().clone().requires_grad_(true);
        var yl = y.detach().clone().requires_grad_(true);
        var l = loss(xl, yl, batch);
        CheckScalar(l, name);
        Tensor dx, dy;
        if (!l.requires_grad)
        {
            if (requireY) throw NotOfY();
            dx = zeros_like(x);
            dy = zeros_like(y);
        }
        else
        {
            var r = autograd.grad(new[] { l }, new[] { xl, yl }, retain_graph: false, create_graph: false, allow_unused: true);
            if (requireY && Missing(r[1])) throw NotOfY();
            dx = Missing(r[0]) ? zeros_like(x) : r[0].detach();
            dy = Missing(r[1]) ? zeros_like(y) : r[1].detach();
        }
        dx.MoveToOuterDisposeScope();
        dy.MoveToOuterDisposeScope();
        return (dx, dy);
    }

    /// <summary>An input that autograd found unused (allow_unused): TorchSharp returns an empty handle, or null.</summary>
    private static bool Missing(Tensor? t) => t is null || t.IsInvalid;

    private static ArgumentException NotOfY() =>
        new("The lower loss g is not a function of y (autograd finds no path from g to y): a bilevel problem needs g to depend on the model parameters y it is minimised over.", "lower");

    private static void CheckScalar(Tensor loss, string name)
    {
        if (loss is null) throw new ArgumentException($"The {name} returned null.", name.Contains("upper") ? "upper" : "lower");
        if (loss.numel() != 1)
            throw new ArgumentException($"The {name} must return a scalar, got a tensor of shape [{string.Join(", ", loss.shape)}] (reduce it, e.g. with mean()).", name.Contains("upper") ? "upper" : "lower");
        if (!loss.is_floating_point())
            throw new ArgumentException($"The {name} must return a floating tensor, got {loss.dtype}.", name.Contains("upper") ? "upper" : "lower");
    }
}
