using SharpOptim.Bilevel;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// Perturbed AID (a reconstruction) on the saddle toy of shared/papers/bilevel.md §5: g(x, y) = ½‖y − x‖² (y*(x) = x),
/// f(x, y) = ½y₁² − ½y₂² + ¼y₂⁴, so Φ(x) = ½x₁² − ½x₂² + ¼x₂⁴ has a strict saddle at 0 and minima at (0, ±1), Φ = −¼.
/// From x₀ = (0.5, 0) the x₂-component of every hypergradient is exactly 0, so plain AID descent converges to the saddle;
/// the perturbed method and iNEON (both reconstructions) must leave it and end at a minimum.
/// </summary>
public class BilevelSaddleTests
{
    private static BilevelProblem Saddle()
    {
        Tensor G(Tensor x, Tensor y, Tensor? b) => 0.5 * (y - x).pow(2).sum();
        Tensor F(Tensor x, Tensor y, Tensor? b) => 0.5 * y[0].pow(2) - 0.5 * y[1].pow(2) + 0.25 * y[1].pow(4);
        return new BilevelProblem(F, G, tensor(new[] { 0.5, 0.0 }).requires_grad_(true), tensor(new[] { 0.5, 0.0 }).requires_grad_(true));
    }

    private static IHypergradientEstimator Aid() => new AidConjugateGradient(innerSteps: 10, innerLr: 0.5, cgIterations: 2, tolerance: 1e-14);

    [Fact]
    public void PlainAidStallsAtTheSaddle()
    {
        var p = Saddle();
        var solver = new HypergradientDescent(p, Aid(), StepSchedule.Constant(0.2));
        for (int k = 0; k < 150; k++) solver.Step();
        var x = p.X.data<double>().ToArray();
        Assert.Equal(0.0, x[1]);                    // exactly: ∂Φ/∂x₂ = −x₂ + x₂³ = 0 along the whole path
        Assert.True(Math.Abs(x[0]) < 1e-6, $"x₁ = {x[0]}");   // (1 − 0.2)^150 · 0.5 ≈ 1e-15, plus the inner loop's lag
    }

    [Fact]
    public void PerturbedAidEscapesToAMinimum()
    {
        var p = Saddle();
        var solver = new PerturbedHypergradientDescent(p, Aid(), StepSchedule.Constant(0.2), gradientThreshold: 1e-3, radius: 1e-2, minInterval: 10, seed: 3);
        double best = double.PositiveInfinity;
        double Phi(double[] x) => 0.5 * x[0] * x[0] - 0.5 * x[1] * x[1] + 0.25 * Math.Pow(x[1], 4);
        for (int k = 0; k < 150; k++)
        {
            solver.Step();
            best = Math.Min(best, Phi(p.X.data<double>().ToArray()));
        }
        var x = p.X.data<double>().ToArray();
        Assert.True(solver.Perturbations >= 1);
        // Between perturbations the iterate converges to a minimum (Φ* = −¼) ...
        Assert.True(best < -0.25 + 1e-5, $"best Φ = {best}");
        // ... and the last iterate is in its basin: the method keeps perturbing at small hypergradients (radius 1e-2, as
        // perturbed GD does at minima), so it is within about r of (0, ±1), not exactly there.
        Assert.True(Math.Abs(Math.Abs(x[1]) - 1) < 1.5e-2, $"x₂ = {x[1]} (minima at ±1)");
        Assert.True(Math.Abs(x[0]) < 1.5e-2, $"x₁ = {x[0]}");
    }

    [Fact]
    public void InexactNeonEscapesToAMinimumAndCertifiesIt()
    {
        var p = Saddle();
        var solver = new InexactNeonDescent(p, Aid(), StepSchedule.Constant(0.2), gradientThreshold: 1e-3, probeRadius: 1e-2,
            probeLr: 0.2, probeSteps: 50, escapeRadius: 0.1, escapeStep: 0.1, minInterval: 10, seed: 3);
        for (int k = 0; k < 150; k++) solver.Step();
        var x = p.X.data<double>().ToArray();
        // The first probe runs at the saddle (the descent reaches ‖ĥ‖ ≤ 1e-3 there): its u grows as (1 + η)^τ along x₂
        // (curvature −1) and shrinks along x₁, so it returns a direction and x leaves the saddle.
        Assert.True(solver.Escapes >= 1, $"escapes = {solver.Escapes}");
        // Later probes run at the minimum, where ∇²Φ = diag(1, 2) shrinks u: no negative curvature, x is not moved, so
        // (unlike perturbed AID) the iterate converges to the minimum itself: rate 1 − 0.2·2 = 0.6 per step from the
        // escape on (≈ 100 steps: far below 1e-9), plus the inner loop's 0.5^10 lag at a fixed point it also removes.
        Assert.Equal(false, solver.LastProbeFoundNegativeCurvature);
        Assert.True(solver.Probes > solver.Escapes, $"probes {solver.Probes}, escapes {solver.Escapes}");
        Assert.True(Math.Abs(Math.Abs(x[1]) - 1) < 1e-9, $"x₂ = {x[1]} (minima at ±1)");
        Assert.True(Math.Abs(x[0]) < 1e-9, $"x₁ = {x[0]}");
    }

    [Fact]
    public void InexactNeonDoesNotMoveAStrictMinimum()
    {
        // Started at the minimum (0, 1): ĥ = 0 so a probe runs at once and must find no negative curvature; x stays put.
        Tensor G(Tensor x, Tensor y, Tensor? b) => 0.5 * (y - x).pow(2).sum();
        Tensor F(Tensor x, Tensor y, Tensor? b) => 0.5 * y[0].pow(2) - 0.5 * y[1].pow(2) + 0.25 * y[1].pow(4);
        var p = new BilevelProblem(F, G, tensor(new[] { 0.0, 1.0 }).requires_grad_(true), tensor(new[] { 0.0, 1.0 }).requires_grad_(true));
        var solver = new InexactNeonDescent(p, Aid(), StepSchedule.Constant(0.2), seed: 5);
        solver.Step();
        Assert.Equal(1, solver.Probes);
        Assert.Equal(0, solver.Escapes);
        Assert.Equal(false, solver.LastProbeFoundNegativeCurvature);
        Assert.Equal(new[] { 0.0, 1.0 }, p.X.data<double>().ToArray());   // exactly: ĥ = 0 at an exact fixed point
    }

    [Fact]
    public void BadInputIsRejected()
    {
        var p = Saddle();
        Assert.Throws<ArgumentException>(() => new PerturbedHypergradientDescent(p, Aid(), StepSchedule.Constant(0.2), gradientThreshold: 0));
        Assert.Throws<ArgumentException>(() => new PerturbedHypergradientDescent(p, Aid(), StepSchedule.Constant(0.2), radius: -1));
        Assert.Throws<ArgumentException>(() => new PerturbedHypergradientDescent(p, Aid(), StepSchedule.Constant(0.2), minInterval: -1));
        Assert.Throws<ArgumentException>(() => new InexactNeonDescent(p, Aid(), StepSchedule.Constant(0.2), probeRadius: 0));
        Assert.Throws<ArgumentException>(() => new InexactNeonDescent(p, Aid(), StepSchedule.Constant(0.2), probeRadius: 0.1, escapeRadius: 0.05));
        Assert.Throws<ArgumentException>(() => new InexactNeonDescent(p, Aid(), StepSchedule.Constant(0.2), probeSteps: 0));
        Assert.Throws<ArgumentException>(() => new InexactNeonDescent(p, Aid(), StepSchedule.Constant(0.2), escapeStep: double.NaN));
    }
}
