namespace SharpOptim.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        // Before anything loads libtorch: its OpenMP runtime reads the wait policy once, at load. Passive waiting keeps
        // a training step from collapsing when another process holds the cores (see CpuThreads).
        CpuThreads.UsePassiveWaiting();
        return CommandLine.Run(args, Console.Out, Console.Error);
    }
}
