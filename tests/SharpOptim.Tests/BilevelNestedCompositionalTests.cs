using SharpOptim.Bilevel;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// The nested compositional method (a reconstruction) on problems with a closed-form optimum: lower
/// g(x, y) = ½yᵀAy − yᵀBx (A SPD, so y*(x) = A⁻¹Bx), innermost f_T(x, y) = Cy + Dx − e, and outer levels
/// f_2(v) = tanh(v) (T = 3, nonlinear) and f_1(u) = ½‖u‖². Then Φ(x) = ½‖tanh(Mx − e)‖² with M = CA⁻¹B + D invertible,
/// whose unique minimiser is x* = M⁻¹e (Φ* = 0; tanh vanishes only at 0). At x* the chained Jacobian w is 0, so the
/// randomised Neumann truncation's noise and its bias both vanish there: the iterates must converge to x* itself.
/// </summary>
public class BilevelNestedCompositionalTests
{
    private static readonly double[,] A = { { 2.0, 0.5, 0.0 }, { 0.5, 1.5, 0.2 }, { 0.0, 0.2, 1.0 } };
    private static readonly double[,] B = { { 1.0, 0.0 }, { 0.5, 1.0 }, { -0.3, 0.8 } };
    private static readonly double[,] C = { { 1.0, 0.2, -0.5 }, { 0.0, 1.0, 0.4 } };
    private static readonly double[,] D = { { 0.5, 0.1 }, { -0.2, 0.3 } };
    private static readonly double[] E = { 0.7, -0.4 };

    private static Tensor T2(double[,] m) => tensor(m);

    /// <summary>x* = M⁻¹e with M = CA⁻¹B + D, computed here in float64 by libtorch's solver.</summary>
    private static double[] Optimum()
    {
        var m = T2(C).matmul(linalg.solve(T2(A), T2(B))) + T2(D);
        return linalg.solve(m, tensor(E)).data<double>().ToArray();
    }

    internal static NestedCompositionalProblem Problem(bool withTanh, double[] x0)
    {
        var a = T2(A); var b = T2(B); var c = T2(C); var d = T2(D); var e = tensor(E);
        Tensor G(Tensor x, Tensor y, Tensor? batch) => 0.5 * y.dot(a.mv(y)) - y.dot(b.mv(x));
        Tensor Inner(Tensor x, Tensor y, Tensor? batch) => c.mv(y) + d.mv(x) - e;
        Tensor F1(Tensor u, Tensor? batch) => 0.5 * u.dot(u);
        Tensor F2(Tensor v, Tensor? batch) => v.tanh();
        var levels = withTanh ? new CompositionLevel[] { F1, F2 } : new CompositionLevel[] { F1 };
        return new NestedCompositionalProblem(levels, Inner, G, tensor(x0).requires_grad_(true), zeros(3, dtype: ScalarType.Float64).requires_grad_(true));
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void ConvergesToTheClosedFormOptimum(bool withTanh, bool randomized)
    {
        var xStar = Optimum();
        var p = Problem(withTanh, new[] { 1.0, -1.0 });
        // The randomised truncation multiplies p by η·Q·(I − ηH)^q̃: multiplicative noise that a shorter series (Q = 4)
        // and a smaller step keep small; it vanishes at x* with w, so the iterates still converge, only more slowly.
        var solver = randomized
            ? new NestedCompositionalBilevel(p, StepSchedule.Constant(0.25), StepSchedule.Constant(0.4), StepSchedule.Constant(0.5),
                neumannLr: 0.35, neumannTerms: 4, randomizedTruncation: true, seed: 1)
            : new NestedCompositionalBilevel(p, StepSchedule.Constant(0.5), StepSchedule.Constant(0.4), StepSchedule.Constant(0.5),
                neumannLr: 0.3, neumannTerms: 10, randomizedTruncation: false);
        for (int k = 0; k < (randomized ? 800 : 300); k++) solver.Step();
        var x = p.X.data<double>().ToArray();
        double err = Math.Sqrt(Math.Pow(x[0] - xStar[0], 2) + Math.Pow(x[1] - xStar[1], 2));
        Assert.True(err < 1e-6, $"‖x − x*‖ = {err}, x = ({x[0]}, {x[1]}), x* = ({xStar[0]}, {xStar[1]})");
        Assert.True(Math.Abs(solver.ObjectiveEstimate) < 1e-10, $"u_1 = {solver.ObjectiveEstimate} (Φ* = 0)");
    }

    [Fact]
    public void DeterministicTrajectoryMatchesTheReference()
    {
        // tools/golden/bilevel_nested_compositional.py: the same scheme with dense autograd Hessians, Jacobians and
        // explicit matrix powers for the Neumann sum (randomizedTruncation: false, full batches), float64.
        using var doc = Golden.Load("bilevel_nested_compositional.json");
        var root = doc.RootElement;
        double[,] M(string k)
        {
            var rows = root.GetProperty(k).EnumerateArray().Select(BilevelParityTests.Doubles).ToArray();
            var m = new double[rows.Length, rows[0].Length];
            for (int i = 0; i < rows.Length; i++) for (int j = 0; j < rows[0].Length; j++) m[i, j] = rows[i][j];
            return m;
        }
        var a = T2(M("A")); var b = T2(M("B")); var c = T2(M("C")); var d = T2(M("D"));
        var e = tensor(BilevelParityTests.Doubles(root.GetProperty("e")));
        Tensor G(Tensor x, Tensor y, Tensor? batch) => 0.5 * y.dot(a.mv(y)) - y.dot(b.mv(x));
        Tensor Inner(Tensor x, Tensor y, Tensor? batch) => c.mv(y) + d.mv(x) - e;
        Tensor F1(Tensor u, Tensor? batch) => 0.5 * u.dot(u);
        Tensor F2(Tensor v, Tensor? batch) => v.tanh();
        var p = new NestedCompositionalProblem(new CompositionLevel[] { F1, F2 }, Inner, G,
            tensor(BilevelParityTests.Doubles(root.GetProperty("x0"))).requires_grad_(true), zeros(3, dtype: ScalarType.Float64).requires_grad_(true));
        var prm = root.GetProperty("params");
        var solver = new NestedCompositionalBilevel(p, StepSchedule.Constant(prm.GetProperty("alpha").GetDouble()), StepSchedule.Constant(prm.GetProperty("beta").GetDouble()),
            StepSchedule.Constant(prm.GetProperty("tau").GetDouble()), prm.GetProperty("eta").GetDouble(), prm.GetProperty("Q").GetInt32(), randomizedTruncation: false);
        var xs = root.GetProperty("xs").EnumerateArray().Select(BilevelParityTests.Doubles).ToArray();
        var ys = root.GetProperty("ys").EnumerateArray().Select(BilevelParityTests.Doubles).ToArray();
        var u1s = BilevelParityTests.Doubles(root.GetProperty("u1s"));
        for (int t = 0; t < xs.Length; t++)
        {
            solver.Step();
            Close(xs[t], p.X.data<double>().ToArray(), $"x at step {t + 1}");
            Close(ys[t], p.Y.data<double>().ToArray(), $"y at step {t + 1}");
            Close(new[] { u1s[t] }, new[] { solver.ObjectiveEstimate }, $"u_1 at step {t + 1}");
        }
        // Per step: 1 lower gradient, 1 upper gradient + 1 (f_1) + 2 (f_2) level backwards, Q − 1 HVPs + 1 cross product.
        int q = prm.GetProperty("Q").GetInt32();
        Assert.Equal(new OracleCounts(4L * xs.Length, xs.Length, (long)q * xs.Length), solver.Counts);
    }

    [Fact]
    public void BadInputIsRejectedBeforeAnythingMoves()
    {
        var p = Problem(true, new[] { 1.0, -1.0 });
        Assert.Throws<ArgumentException>(() => new NestedCompositionalBilevel(p, StepSchedule.Constant(0.1), StepSchedule.Constant(0.1), StepSchedule.Constant(1.5), 0.3, 4));
        Assert.Throws<ArgumentException>(() => new NestedCompositionalBilevel(p, StepSchedule.Constant(0.1), StepSchedule.Constant(0.1), StepSchedule.Constant(0.5), 0.0, 4));
        Assert.Throws<ArgumentException>(() => new NestedCompositionalBilevel(p, StepSchedule.Constant(0.1), StepSchedule.Constant(0.1), StepSchedule.Constant(0.5), 0.3, 0));
        Tensor G(Tensor x, Tensor y, Tensor? batch) => 0.5 * y.dot(y) - y.dot(x);
        Tensor Inner(Tensor x, Tensor y, Tensor? batch) => y - x;
        Assert.Throws<ArgumentException>(() => new NestedCompositionalProblem(Array.Empty<CompositionLevel>(), Inner, G,
            tensor(new[] { 1.0, 2.0 }).requires_grad_(true), zeros(2, dtype: ScalarType.Float64).requires_grad_(true)));
        // f_1 must return one entry (the objective): here it returns two, caught on the first step before x or y move.
        Tensor NotScalar(Tensor u, Tensor? batch) => u.tanh();
        var bad = new NestedCompositionalProblem(new CompositionLevel[] { NotScalar }, Inner, G,
            tensor(new[] { 1.0, 2.0 }).requires_grad_(true), zeros(2, dtype: ScalarType.Float64).requires_grad_(true));
        var solver = new NestedCompositionalBilevel(bad, StepSchedule.Constant(0.1), StepSchedule.Constant(0.1), StepSchedule.Constant(0.5), 0.3, 4);
        var ex = Assert.Throws<ArgumentException>(() => solver.Step());
        Assert.Contains("f_1", ex.Message);
        Assert.Equal(new[] { 1.0, 2.0 }, bad.X.data<double>().ToArray());
        Assert.Equal(new[] { 0.0, 0.0 }, bad.Y.data<double>().ToArray());
    }

    private static void Close(double[] expected, double[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-9 * Math.Max(1, Math.Abs(expected[i])), $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
    }
}
