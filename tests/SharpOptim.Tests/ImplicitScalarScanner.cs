using System.Reflection;
using System.Reflection.Emit;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// Reads the IL of compiled assemblies and reports every place where a TorchSharp <see cref="Scalar"/> (or an implicit
/// tensor) is created without being held, the objects that TorchSharp 0.107 lets the finalizer free while libtorch
/// still reads them:
/// <list type="bullet">
/// <item>a direct call to <c>Scalar.op_Implicit</c> (a double/int passed where TorchSharp takes a Scalar);</item>
/// <item>a direct call to <c>Tensor.op_Implicit</c> (a double passed where TorchSharp takes a tensor, e.g. lerp's weight);</item>
/// <item>a call to <c>ToScalar()</c> whose result is not stored straight into a field (held for the object's life),
/// outside <c>ScalarHold</c> itself;</item>
/// <item>a call to a TorchSharp method whose own body (followed through TorchSharp up to <see cref="Depth"/> calls)
/// creates a Scalar, such as the one-argument <c>add(Tensor)</c> (its implicit alpha = 1), <c>square()</c>
/// (<c>pow(2)</c>), <c>a * 2.0</c> or <c>arange(stop)</c>.</item>
/// </list>
/// Virtual calls are followed to the method they name, not to overrides (a module's <c>forward</c>); the GC-stress
/// test covers those paths by running them.
/// </summary>
internal static class ImplicitScalarScanner
{
    private const int Depth = 8;
    private static readonly Assembly TorchSharpAssembly = typeof(Scalar).Assembly;
    private static readonly Dictionary<MethodBase, string?> Internal = new();

    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Every finding in the methods of <paramref name="types"/>, as "Type.Method: what".</summary>
    public static List<string> Scan(IEnumerable<Type> types)
    {
        var findings = new List<string>();
        foreach (var type in types)
        {
            var methods = type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All));
            foreach (var m in methods)
            {
                var calls = Calls(m).ToList();
                for (int i = 0; i < calls.Count; i++)
                {
                    var target = IlReader.Resolve(m, calls[i].Token);
                    if (target?.DeclaringType?.Assembly != TorchSharpAssembly) continue;
                    string where = $"{type.FullName}.{m.Name}";
                    string callee = Describe(target);
                    if (target.Name == "op_Implicit" && (target.DeclaringType == typeof(Scalar) || target.DeclaringType == typeof(Tensor)))
                        findings.Add($"{where}: implicit conversion {callee}");
                    else if (IsToScalar(target))
                    {
                        bool inHold = type.FullName == "SharpOptim.Optimizers.ScalarHold";
                        bool storedInField = calls[i].Next is { } next && (next == OpCodes.Stfld || next == OpCodes.Stsfld);
                        if (!inHold && !storedInField) findings.Add($"{where}: {callee} not held in a field or a ScalarHold");
                    }
                    else if (CreatesScalarInside(target, Depth) is { } inside)
                        findings.Add($"{where}: {callee} creates a Scalar inside TorchSharp ({inside})");
                }
            }
        }
        return findings;
    }

    private static bool IsToScalar(MethodBase m) => m.Name == "ToScalar" && m.DeclaringType?.Assembly == TorchSharpAssembly;

    private static bool CreatesScalar(MethodBase m) =>
        (m.Name == "op_Implicit" && m.DeclaringType == typeof(Scalar)) || IsToScalar(m);

    /// <summary>The TorchSharp method (reached from <paramref name="m"/>) that creates a Scalar, or null.</summary>
    private static string? CreatesScalarInside(MethodBase m, int depth)
    {
        if (Internal.TryGetValue(m, out var known)) return known;
        Internal[m] = null;   // cycles: a method being visited counts as clean
        string? found = null;
        foreach (var (token, _) in Calls(m))
        {
            var t = IlReader.Resolve(m, token);
            if (t is null) continue;
            if (CreatesScalar(t)) { found = Describe(m); break; }
            if (depth > 0 && t.DeclaringType?.Assembly == TorchSharpAssembly && CreatesScalarInside(t, depth - 1) is { } deeper)
            {
                found = deeper;
                break;
            }
        }
        Internal[m] = found;
        return found;
    }

    private static string Describe(MethodBase m) =>
        $"{m.DeclaringType?.Name}.{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})";

    /// <summary>The call, callvirt and newobj instructions of a method body: their method token and the opcode after them.</summary>
    private static IEnumerable<(int Token, OpCode? Next)> Calls(MethodBase m)
    {
        int? pending = null;
        foreach (var (op, token) in IlReader.Instructions(m))
        {
            if (pending is { } call)
            {
                yield return (call, op);
                pending = null;
            }
            if (op.OperandType == OperandType.InlineMethod) pending = token;
        }
        if (pending is { } last) yield return (last, null);
    }
}
