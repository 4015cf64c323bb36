using System.Reflection;
using System.Reflection.Emit;

namespace SharpOptim.Tests;

/// <summary>The IL decoding that the IL scans of the TorchSharp races share (<see cref="ImplicitScalarScanner"/>,
/// <see cref="GradWrapperScanner"/>): a method body's instructions in order and the method a call token names.</summary>
internal static class IlReader
{
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>The method that <paramref name="token"/> names in <paramref name="context"/>'s module, or null for a
    /// token into a generic context this reader does not instantiate.</summary>
    public static MethodBase? Resolve(MethodBase context, int token)
    {
        try
        {
            var typeArgs = context.DeclaringType is { IsGenericType: true } dt ? dt.GetGenericArguments() : null;
            var methodArgs = context.IsGenericMethod ? context.GetGenericArguments() : null;
            return context.Module.ResolveMethod(token, typeArgs, methodArgs);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The instructions of a method body in order: opcode and method token (0 unless the operand is a
    /// method); nothing for a method without a readable body.</summary>
    public static IEnumerable<(OpCode Op, int Token)> Instructions(MethodBase m)
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
