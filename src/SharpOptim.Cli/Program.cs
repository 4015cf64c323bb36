namespace SharpOptim.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        // Help and the optimizer list need no libtorch; every other command does, and gets a clear message
        // where the installed tool has no native libtorch for this machine (see NativeLibTorch).
        bool needsTorch = args is not ([] or ["help", ..] or ["list", ..]) && !args.Any(a => a is "--help" or "-h");
        if (needsTorch && NativeLibTorch.Problem(AppContext.BaseDirectory, NativeLibTorch.CurrentRid()) is { } problem)
        {
            Console.Error.WriteLine($"sharpoptim: {problem}");
            return 1;
        }
        return CommandLine.Run(args, Console.Out, Console.Error);
    }
}
