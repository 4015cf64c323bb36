using System.Reflection;
using SharpOptim.Optimizers;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>Every optimizer takes the same constructor shapes: a flat parameter list, named parameters and parameter
/// groups; where a method cannot work without names, its flat overload is a compile error that says why.</summary>
public class ConstructorShapeTests
{
    /// <summary>Optimizers without a groups constructor, and why: their layout is decided from names, which groups do not carry.</summary>
    private static readonly Dictionary<Type, string> NoGroups = new()
    {
        [typeof(AdamMini)] = "blocks partitioned by module name",
        [typeof(Frugal)] = "state-full blocks chosen by module name",
        [typeof(DropMuon)] = "layers given as lists of named parameters",
    };

    public static IEnumerable<object[]> OptimizerTypes() => typeof(OptimizerBase).Assembly.GetExportedTypes()
        .Where(t => t.IsSubclassOf(typeof(OptimizerBase)) && !t.IsAbstract)
        .Select(t => new object[] { t.Name });

    private static Type TypeOf(string name) => typeof(OptimizerBase).Assembly.GetExportedTypes().Single(t => t.Name == name && t.IsSubclassOf(typeof(OptimizerBase)));

    private static ConstructorInfo? Taking(Type t, Type first) =>
        t.GetConstructors().FirstOrDefault(c => c.GetParameters() is { Length: > 0 } ps && ps[0].ParameterType == first);

    [Theory]
    [MemberData(nameof(OptimizerTypes))]
    public void TakesFlatNamedAndGroupedParameters(string name)
    {
        var t = TypeOf(name);
        if (t == typeof(DropMuon)) return;   // a Muon over layers: DropMuon.ByModule(named) builds them
        var named = Taking(t, typeof(IEnumerable<(string name, Parameter parameter)>));
        Assert.True(named is not null, $"{name} has no constructor over named parameters");
        var flat = Taking(t, typeof(IEnumerable<Parameter>));
        Assert.True(flat is not null, $"{name} has no constructor over a flat parameter list");
        if (flat!.GetCustomAttribute<ObsoleteAttribute>() is { } obsolete)
        {
            Assert.True(obsolete.IsError, $"{name}: the flat overload must be a compile error");
            Assert.Contains("named_parameters()", obsolete.Message);
            var e = Assert.Throws<TargetInvocationException>(() => flat.Invoke(new object?[] { new[] { new Parameter(randn(3, 3)) } }));
            Assert.IsType<ArgumentException>(e.InnerException);
            Assert.Contains("named_parameters()", e.InnerException!.Message);
        }
        if (!NoGroups.ContainsKey(t))
            Assert.True(Taking(t, typeof(IEnumerable<ParamGroup>)) is not null, $"{name} has no constructor over parameter groups");
    }

    [Theory]
    [MemberData(nameof(OptimizerTypes))]
    public void NamedParametersNameTheParameterInErrors(string name)
    {
        var t = TypeOf(name);
        var ctor = Taking(t, typeof(IEnumerable<(string name, Parameter parameter)>));
        if (ctor is null) return;   // DropMuon (checked above)
        using var w = new Parameter(randn(6, 4));
        using var b = new Parameter(randn(6));
        var args = ctor.GetParameters().Select((p, i) => i == 0 ? (object)new[] { ("encoder.weight", w), ("encoder.bias", b) } : p.HasDefaultValue ? p.DefaultValue : 0.01).ToArray();   // SGD: lr is required, as in torch.optim
        using var opt = (OptimizerBase)ctor.Invoke(args);
        w.grad = randn(6, 4);
        b.grad = full(6, double.NaN);
        var e = Assert.Throws<NonFiniteGradientException>(() => opt.step());
        Assert.Contains("encoder.bias", e.Message);
    }
}
