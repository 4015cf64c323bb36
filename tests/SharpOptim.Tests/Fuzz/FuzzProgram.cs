using System.Globalization;

namespace SharpOptim.Tests.Fuzz;

/// <summary>
/// The test assembly's entry point (Microsoft.NET.Test.Sdk builds test projects as executables; its generated empty
/// Main is turned off in the project file). <c>dotnet SharpOptim.Tests.dll fuzz [first] [budget-seconds]</c> runs the
/// fuzz matrix from case <c>first</c> on; <see cref="FuzzTests"/> starts it as a child process so that a native abort
/// kills the child, not the test run. Test runners do not call Main.
/// </summary>
internal static class FuzzProgram
{
    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] != "fuzz")
        {
            Console.Error.WriteLine("usage: dotnet SharpOptim.Tests.dll fuzz [first-case] [budget-seconds]");
            return 2;
        }
        int first = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 0;
        double budget = args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : double.PositiveInfinity;
        var failures = FuzzRunner.Run(Console.Out, first, budget);
        return failures == 0 ? 0 : 1;
    }
}
