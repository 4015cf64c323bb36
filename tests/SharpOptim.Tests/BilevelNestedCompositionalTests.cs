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
}
