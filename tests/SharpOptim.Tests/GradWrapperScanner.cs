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
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

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
                var instructions = Instructions(m).ToList();
                for (int i = 0; i < instructions.Count; i++)
                {
                    var (op, token) = instructions[i];
                    if (op.OperandType != OperandType.InlineMethod || Resolve(m, token) is not { } target) continue;
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

    private static MethodBase? Resolve(MethodBase context, int token)
    {
        try
        {
            var typeArgs = context.DeclaringType is { IsGenericType: true } dt ? dt.GetGenericArguments() : null;
            var methodArgs = context.IsGenericMethod ? context.GetGenericArguments() : null;
            return context.Module.ResolveMethod(token, typeArgs, methodArgs);
        }
        catch (ArgumentException)
        {
            return null;   // a token into a generic context this reader does not instantiate
        }
    }

    /// <summary>The instructions of a method body in order: opcode and 4-byte operand (0 where it has none).</summary>
    private static IEnumerable<(OpCode Op, int Token)> Instructions(MethodBase m)
    {
        byte[]? il;
        try { il = m.GetMethodBody()?.GetILAsByteArray(); }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException) { il = null; }
        if (il is null) yield break;
        int i = 0;
        while (i < il.Length)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            var op = OpCodesByValue[value];
            int token = op.OperandType == OperandType.InlineMethod ? BitConverter.ToInt32(il, i) : 0;
            yield return (op, token);
            i += op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
        }
    }
}
