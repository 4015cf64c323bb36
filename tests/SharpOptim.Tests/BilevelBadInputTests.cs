using SharpOptim.Bilevel;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>Bad input to SharpOptim.Bilevel: a clear ArgumentException naming what is wrong, before any state changes, and
/// never libtorch's process abort.</summary>
public class BilevelBadInputTests
{
    private static Tensor Var(params double[] v) => tensor(v).requires_grad_(true);
    private static Tensor G(Tensor x, Tensor y, Tensor? _) => (y * y).sum() - (x * y).sum();
    private static Tensor F(Tensor x, Tensor y, Tensor? _) => (y * y).sum() + (x * x).sum();

    [Fact]
    public void XOrYThatDoesNotRequireGradIsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => new BilevelProblem(F, G, tensor(new[] { 1.0, 2 }), Var(0, 0)));
        Assert.Equal("x", e.ParamName);
        Assert.Contains("require grad", e.Message);
        e = Assert.Throws<ArgumentException>(() => new BilevelProblem(F, G, Var(1, 2), tensor(new[] { 0.0, 0 })));
        Assert.Equal("y", e.ParamName);
        var leafless = Var(1, 2) * 2;
        e = Assert.Throws<ArgumentException>(() => new BilevelProblem(F, G, leafless, Var(0, 0)));
        Assert.Contains("leaf", e.Message);
        e = Assert.Throws<ArgumentException>(() => new BilevelProblem(F, G, Var(1, 2), tensor(new[] { 0f, 0f }).requires_grad_(true)));
        Assert.Contains("dtype", e.Message);
    }

    [Fact]
    public void NonScalarLossIsRefusedBeforeAnyUpdate()
    {
        var problem = new BilevelProblem((x, y, _) => y * y, G, Var(1, 2), Var(0.5, 0.5));
        var solver = new Soba(problem, StepSchedule.Constant(0.1), StepSchedule.Constant(0.1));
        var e = Assert.Throws<ArgumentException>(() => solver.Step());
        Assert.Contains("upper loss f must return a scalar", e.Message);
        Assert.Contains("[2]", e.Message);
        Assert.Equal(new[] { 1.0, 2 }, problem.X.data<double>().ToArray());
        Assert.Equal(new[] { 0.5, 0.5 }, problem.Y.data<double>().ToArray());
        var lower = new BilevelProblem(F, (x, y, _) => y - x, Var(1, 2), Var(0.5, 0.5));
        e = Assert.Throws<ArgumentException>(() => new Soba(lower, StepSchedule.Constant(0.1), StepSchedule.Constant(0.1)).Step());
        Assert.Contains("lower loss g must return a scalar", e.Message);
    }

    [Fact]
    public void LowerLossThatIsNotAFunctionOfYIsRefused()
    {
        // g depends on x only: every oracle that needs ∇_y g or its derivatives says so (including the double-backward,
        // which would otherwise reach libtorch with an input that is not in the graph).
        var problem = new BilevelProblem(F, (x, y, _) => (x * x).sum(), Var(1, 2), Var(0.5, 0.5));
        var oracle = new HypergradientOracle(problem);
        Assert.Contains("not a function of y", Assert.Throws<ArgumentException>(() => oracle.LowerGradient(problem.X, problem.Y, null)).Message);
        Assert.Contains("not a function of y", Assert.Throws<ArgumentException>(() => oracle.LowerSecondOrder(problem.X, problem.Y, ones(2, dtype: float64), null)).Message);
        // A constant lower loss (no graph at all) too.
        var constant = new BilevelProblem(F, (x, y, _) => tensor(1.0), Var(1, 2), Var(0.5, 0.5));
        Assert.Contains("not a function of y", Assert.Throws<ArgumentException>(() => new HypergradientOracle(constant).LowerGradient(constant.X, constant.Y, null)).Message);
        // Non-floating loss.
        var integer = new BilevelProblem(F, (x, y, _) => tensor(1L), Var(1, 2), Var(0.5, 0.5));
        Assert.Contains("floating", Assert.Throws<ArgumentException>(() => new HypergradientOracle(integer).LowerGradient(integer.X, integer.Y, null)).Message);
    }

    [Fact]
    public void LinearLowerLossHasZeroSecondOrderAndUpperWithoutXHasZeroGradient()
    {
        // Values, not errors: g linear in y has ∇²g = 0; f without x has ∇_x f = 0.
        var problem = new BilevelProblem((x, y, _) => (y * y).sum(), (x, y, _) => (x * y).sum() + y.sum(), Var(1, 2), Var(0.5, 0.5));
        var oracle = new HypergradientOracle(problem);
        var (hyy, hxy) = oracle.LowerSecondOrder(problem.X, problem.Y, ones(2, dtype: float64), null);
        Assert.Equal(new[] { 0.0, 0 }, hyy.data<double>().ToArray());
        Assert.Equal(new[] { 1.0, 1 }, hxy!.data<double>().ToArray());   // ∂²(x·y)/∂x∂y · 1
        var (fx, fy) = oracle.UpperGradient(problem.X, problem.Y, null);
        Assert.Equal(new[] { 0.0, 0 }, fx.data<double>().ToArray());
        Assert.Equal(new[] { 1.0, 1 }, fy.data<double>().ToArray());
    }

    [Fact]
    public void OraclesWorkInsideNoGradAndVectorShapeIsChecked()
    {
        var problem = new BilevelProblem(F, G, Var(1, 2), Var(0.5, 0.5));
        var oracle = new HypergradientOracle(problem);
        using (no_grad())
        {
            var (hyy, hxy) = oracle.LowerSecondOrder(problem.X, problem.Y, ones(2, dtype: float64), null);
            Assert.Equal(new[] { 2.0, 2 }, hyy.data<double>().ToArray());
            Assert.Equal(new[] { -1.0, -1 }, hxy!.data<double>().ToArray());
        }
        var e = Assert.Throws<ArgumentException>(() => oracle.LowerSecondOrder(problem.X, problem.Y, ones(3, dtype: float64), null));
        Assert.Equal("v", e.ParamName);
    }

    [Fact]
    public void BadHyperparametersAreRefused()
    {
        var problem = new BilevelProblem(F, G, Var(1, 2), Var(0.5, 0.5));
        Assert.Equal("initial", Assert.Throws<ArgumentException>(() => StepSchedule.Constant(-1)).ParamName);
        Assert.Equal("exponent", Assert.Throws<ArgumentException>(() => new StepSchedule(1, -0.5)).ParamName);
        Assert.Equal("averaging", Assert.Throws<ArgumentException>(() => new MaSoba(problem, StepSchedule.Constant(1), StepSchedule.Constant(1), StepSchedule.Constant(1), 1.5)).ParamName);
        Assert.Equal("momentum", Assert.Throws<ArgumentException>(() => new BoRep(problem, StepSchedule.Constant(1), 0.1, 1.0, 0.1, 1, 1)).ParamName);
        Assert.Equal("period", Assert.Throws<ArgumentException>(() => new BoRep(problem, StepSchedule.Constant(1), 0.1, 0.9, 0.1, 0, 1)).ParamName);
        Assert.Equal("innerSteps", Assert.Throws<ArgumentException>(() => new F2sa(problem, StepSchedule.Constant(1), StepSchedule.Constant(1), StepSchedule.Constant(1), 1, StepSchedule.Constant(1), 0)).ParamName);
        Assert.Equal("cgIterations", Assert.Throws<ArgumentException>(() => new AidConjugateGradient(1, 0.1, 0)).ParamName);
        Assert.Equal("innerLr", Assert.Throws<ArgumentException>(() => new AidNeumann(1, double.NaN, 3, 0.1)).ParamName);
        Assert.Equal("truncatedSteps", Assert.Throws<ArgumentException>(() => new IterativeDifferentiation(3, 0.1, 4)).ParamName);
        Assert.Equal("batchSize", Assert.Throws<ArgumentException>(() => BatchStream.Random(10, 11, 0)).ParamName);
        Assert.Throws<InvalidOperationException>(() => { var s = BatchStream.Scripted(new[] { new long[] { 1 } }); s.Next(); s.Next(); });
    }
}
