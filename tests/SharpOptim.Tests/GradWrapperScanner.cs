using System.Reflection;
using System.Reflection.Emit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// Reads the IL of compiled assemblies and reports every read of <c>Tensor.grad</c> whose result is used straight from
/// the evaluation stack — <c>p.grad?.zero_()</c>, <c>p.grad.reshape(-1)</c>, <c>f(p.grad)</c>, <c>p.grad ?? x</c> —
/// instead of being stored in a local or field first, in a method that has not opened a dispose scope before it.
/// TorchSharp 0.107's <c>grad</c> getter returns a new wrapper on every call; used that way, nothing references it
/// during the native call it is passed to, so a garbage collection started by another thread can finalize it — and
/// delete the at::Tensor libtorch is reading (README, Compatibility: "TorchSharp's tensor-temporary race"). A read
/// inside a method that called <c>torch.NewDisposeScope()</c> earlier is owned by that scope and is not reported
/// (lambdas are their own methods, so a lambda run inside its caller's scope is reported and must be allow-listed).
/// The check is syntactic: a stored wrapper that is never disposed is left to the exact-count tests.
/// </summary>
internal static class GradWrapperScanner
{
    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Every finding in the methods of <paramref name="types"/>, as "Type.Method" (one entry per read).</summary>
    public static List<string> Scan(IEnumerable<Type> types)
    {
        var findings = new List<string>();
        foreach (var type in types)
        {
            foreach (var m in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
            {
                bool scopeOpened = false;
                var instructions = IlReader.Instructions(m).ToList();
                for (int i = 0; i < instructions.Count; i++)
                {
                    var (op, token) = instructions[i];
                    if (op.OperandType != OperandType.InlineMethod || IlReader.Resolve(m, token) is not { } target) continue;
                    if (target.Name == "NewDisposeScope" && target.DeclaringType == typeof(TorchSharp.torch)) scopeOpened = true;
                    if (scopeOpened || target.Name != "get_grad" || target.DeclaringType != typeof(Tensor)) continue;
                    var next = i + 1 < instructions.Count ? instructions[i + 1].Op : OpCodes.Ret;
                    if (!IsStore(next)) findings.Add($"{type.FullName}.{m.Name}");
                }
            }
        }
        return findings;
    }

    private static bool IsStore(OpCode op) =>
        op == OpCodes.Stloc || op == OpCodes.Stloc_S || op == OpCodes.Stloc_0 || op == OpCodes.Stloc_1 || op == OpCodes.Stloc_2
        || op == OpCodes.Stloc_3 || op == OpCodes.Stfld || op == OpCodes.Stsfld;
}
