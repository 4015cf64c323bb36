using System.Text.Json;
using SharpOptim.Bilevel;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// SharpOptim.Bilevel's solvers against tools/golden/bilevel.py (float64, an independent PyTorch implementation whose
/// second-order terms come from dense Hessian blocks, not from the oracle layer's double-backward): 15 steps of each
/// method on a weighted-logistic bilevel problem, with the reference's minibatches replayed. Tolerance 1e-9 relative:
/// both sides are float64, the only differences are summation order (and CG vs a direct solve for AID-CG, whose
/// dy = 4 CG iterations are exact up to rounding).
/// </summary>
public class BilevelParityTests
{
    private const double Rtol = 1e-9, Atol = 1e-11;

    public static IEnumerable<object[]> Methods() =>
        new[] { "soba", "ma_soba", "bo_rep", "f2sa", "aid_cg", "itd", "stocbio" }.Select(m => new object[] { m });

    /// <summary>The fixture's problem: g = mean σ(x_i) softplus(−b_i a_i·w) + μ/2‖w‖², f = mean softplus(−b_j a_j·w) + ρ/2‖x‖².</summary>
    internal sealed class LogisticProblem
    {
        public readonly Tensor ATr, BTr, AVal, BVal;
        public readonly double Mu, Rho;
        public readonly double[] X0, Y0;

        public LogisticProblem(JsonElement p)
        {
            int nTr = p.GetProperty("n_tr").GetInt32(), nVal = p.GetProperty("n_val").GetInt32(), d = p.GetProperty("d").GetInt32();
            ATr = tensor(Doubles(p.GetProperty("A_tr"))).reshape(nTr, d);
            BTr = tensor(Doubles(p.GetProperty("b_tr")));
            AVal = tensor(Doubles(p.GetProperty("A_val"))).reshape(nVal, d);
            BVal = tensor(Doubles(p.GetProperty("b_val")));
            Mu = p.GetProperty("mu").GetDouble();
            Rho = p.GetProperty("rho").GetDouble();
            X0 = Doubles(p.GetProperty("x0"));
            Y0 = Doubles(p.GetProperty("y0"));
        }

        public Tensor Lower(Tensor x, Tensor w, Tensor? batch)
        {
            var a = batch is null ? ATr : ATr.index_select(0, batch);
            var b = batch is null ? BTr : BTr.index_select(0, batch);
            var xs = batch is null ? x : x.index_select(0, batch);
            var z = -b * a.matmul(w);
            return (sigmoid(xs) * nn.functional.softplus(z)).mean() + 0.5 * Mu * (w * w).sum();
        }

        public Tensor Upper(Tensor x, Tensor w, Tensor? batch)
        {
            var a = batch is null ? AVal : AVal.index_select(0, batch);
            var b = batch is null ? BVal : BVal.index_select(0, batch);
            return nn.functional.softplus(-b * a.matmul(w)).mean() + 0.5 * Rho * (x * x).sum();
        }

        public BilevelProblem Create(BatchStream? upper = null, BatchStream? lower = null) =>
            new(Upper, Lower, tensor(X0).requires_grad_(true), tensor(Y0).requires_grad_(true), upper, lower);
    }

    internal static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    private static long[][] Batches(JsonElement e) => e.EnumerateArray().Select(b => b.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();

    [Theory]
    [MemberData(nameof(Methods))]
    public void TrajectoryMatchesTheReference(string method)
    {
        using var doc = Golden.Load("bilevel.json");
        var root = doc.RootElement;
        var lp = new LogisticProblem(root.GetProperty("problem"));
        var m = root.GetProperty("methods").EnumerateArray().Single(e => e.GetProperty("name").GetString() == method);
        var p = m.GetProperty("params");
        bool full = m.GetProperty("full_batch").GetBoolean();
        var problem = full ? lp.Create() : lp.Create(BatchStream.Scripted(Batches(m.GetProperty("upper_batches"))), BatchStream.Scripted(Batches(m.GetProperty("lower_batches"))));
        double P(string k) => p.GetProperty(k).GetDouble();
        int I(string k) => p.GetProperty(k).GetInt32();
        BilevelSolver solver = method switch
        {
            "soba" => new Soba(problem, new StepSchedule(P("rho"), P("rho_exp")), new StepSchedule(P("gamma"), P("gamma_exp"))),
            "ma_soba" => new MaSoba(problem, StepSchedule.Constant(P("alpha")), StepSchedule.Constant(P("beta")), StepSchedule.Constant(P("gamma")), P("theta")),
            "bo_rep" => new BoRep(problem, StepSchedule.Constant(P("eta")), P("nu"), P("beta"), P("inner_lr"), I("period"), I("inner_steps"), I("init_steps")),
            "f2sa" => new F2sa(problem, new StepSchedule(P("alpha"), 5.0 / 7), new StepSchedule(P("gamma"), 4.0 / 7), new StepSchedule(P("xi"), 4.0 / 7), P("lam0"), new StepSchedule(P("delta"), 1.0 / 7), I("T")),
            "aid_cg" => new HypergradientDescent(problem, new AidConjugateGradient(I("D"), P("inner_lr"), cgIterations: 4, tolerance: 0, warmStart: false), StepSchedule.Constant(P("outer_lr"))),
            "itd" => new HypergradientDescent(problem, new IterativeDifferentiation(I("D"), P("inner_lr")), StepSchedule.Constant(P("outer_lr"))),
            "stocbio" => new HypergradientDescent(problem, new StocBiO(I("D"), P("inner_lr"), I("Q"), P("eta")), StepSchedule.Constant(P("outer_lr"))),
            _ => throw new ArgumentException(method),
        };
        var xs = m.GetProperty("xs").EnumerateArray().Select(Doubles).ToArray();
        var ys = m.GetProperty("ys").EnumerateArray().Select(Doubles).ToArray();
        for (int t = 0; t < xs.Length; t++)
        {
            solver.Step();
            AssertClose(xs[t], problem.X.data<double>().ToArray(), $"{method} x at step {t + 1}");
            AssertClose(ys[t], problem.Y.data<double>().ToArray(), $"{method} y at step {t + 1}");
        }
        if (!full)
        {
            // Every scripted batch was consumed: the solver drew its batches in the reference's order and number.
            Assert.Equal(m.GetProperty("lower_batches").GetArrayLength(), problem.LowerBatches.Drawn);
            Assert.Equal(m.GetProperty("upper_batches").GetArrayLength(), problem.UpperBatches.Drawn);
        }
        // The trajectory moved: a solver that did nothing would fail above, but make it explicit.
        Assert.True(Math.Abs(xs[^1][0] - lp.X0[0]) > 1e-3, $"{method}: the reference's x barely moved");
    }

    internal static void AssertClose(double[] expected, double[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            if (!(err <= Atol + Rtol * Math.Abs(expected[i])))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R} (|diff| {err:E2}).");
        }
    }
}
