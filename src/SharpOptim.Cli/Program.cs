namespace SharpOptim.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        // Help and the optimizer list need no libtorch; every other command does, and gets a clear message
        // where the installed tool has no native libtorch for this machine (see NativeLibTorch).
        bool needsTorch = args is not ([] or ["help", ..] or ["list", ..] or ["--version"] or ["version"]) && !args.Any(a => a is "--help" or "-h");
        if (needsTorch && NativeLibTorch.Problem(AppContext.BaseDirectory, NativeLibTorch.CurrentRid()) is { } problem)
        {
            Console.Error.WriteLine($"sharpoptim: {problem}");
            return 1;
        }
        // Before anything loads libtorch: its OpenMP runtime reads the wait policy once, at load. Passive waiting keeps
        // a training step from collapsing when another process holds the cores (see CpuThreads).
        CpuThreads.UsePassiveWaiting();
        return CommandLine.Run(args, Console.Out, Console.Error);
    }
}
