using System.Runtime.InteropServices;
using System.Text;

namespace SharpOptim.Distributed.Mpi;

/// <summary>
/// The P/Invoke table of Open MPI 4.x/5.x (Debian's <c>libmpi.so.40</c>), the ABI of Open MPI's <c>mpi.h</c>: handles
/// (<c>MPI_Comm</c>, <c>MPI_Datatype</c>, <c>MPI_Op</c>, <c>MPI_Request</c>, <c>MPI_Errhandler</c>) are pointers, and the
/// predefined ones are the ADDRESSES of exported global objects (<c>#define MPI_COMM_WORLD
/// OMPI_PREDEFINED_GLOBAL(MPI_Comm, ompi_mpi_comm_world)</c> = <c>(MPI_Comm)(void*)&amp;ompi_mpi_comm_world</c>), so
/// <see cref="NativeLibrary.GetExport"/> returns exactly the handle to pass, never to be dereferenced. Plain constants:
/// <c>MPI_IN_PLACE = (void*)1</c>, <c>MPI_STATUS(ES)_IGNORE = NULL</c>, <c>MPI_SUCCESS = 0</c>. MPICH and its
/// derivatives use integer handles and another status layout; <see cref="MpiRuntime"/> refuses them by reading
/// <c>MPI_Get_library_version</c>. All functions are cdecl and return an error code (except <c>MPI_Wtime</c>).
/// </summary>
/// <remarks>
/// The library is opened first with <c>dlopen(RTLD_NOW | RTLD_GLOBAL)</c> and the handle kept for the life of the
/// process: Open MPI loads its components (<c>mca_*.so</c>) with dlopen, and its documentation for loading libmpi at run
/// time asks for global symbols (.NET's own loader opens libraries without <c>RTLD_GLOBAL</c>). With Open MPI ≥ 3 the
/// components link libmpi themselves, so this is a safeguard that costs nothing.
/// </remarks>
internal static unsafe class MpiNative
{
    /// <summary>The soname of Open MPI's C library (Debian 12: libopenmpi3 4.1.4; Debian 13: libopenmpi40 5.0).</summary>
    public const string Library = "libmpi.so.40";

    public const int Success = 0;
    public const int ThreadFunneled = 1;
    public static readonly IntPtr InPlace = 1;
    public static readonly IntPtr StatusIgnore = IntPtr.Zero;

    private const int RtldNow = 0x002;
    private const int RtldGlobal = 0x100;

    private static readonly object Gate = new();
    private static IntPtr _exports;

    /// <summary>Opens libmpi with global symbols (once per process) and returns the handle for symbol look-ups;
    /// throws <see cref="DllNotFoundException"/> with dlerror's text when the library is missing.</summary>
    public static IntPtr Open()
    {
        lock (Gate)
        {
            if (_exports != IntPtr.Zero) return _exports;
            if (OperatingSystem.IsLinux())
            {
                // glibc ≥ 2.34 exports dlopen from libc.so.6; older ones from libdl.so.2.
                bool fromLibc = true;
                IntPtr h;
                try
                {
                    h = dlopen(Library, RtldNow | RtldGlobal);
                }
                catch (EntryPointNotFoundException)
                {
                    fromLibc = false;
                    h = dlopen_libdl(Library, RtldNow | RtldGlobal);
                }
                if (h == IntPtr.Zero)
                {
                    IntPtr err = fromLibc ? dlerror() : dlerror_libdl();
                    throw new DllNotFoundException($"{Library} could not be loaded: {(err == IntPtr.Zero ? "unknown error" : Marshal.PtrToStringUTF8(err))}");
                }
                // The handle is never closed: libmpi stays loaded with global symbols for the life of the process.
            }
            _exports = NativeLibrary.Load(Library);
            return _exports;
        }
    }

    /// <summary>The handle of a predefined MPI object: the address of its exported symbol (see the class remarks).</summary>
    public static IntPtr Predefined(string symbol)
    {
        IntPtr lib = Open();
        if (!NativeLibrary.TryGetExport(lib, symbol, out IntPtr address))
            throw new EntryPointNotFoundException($"{Library} exports no '{symbol}': not Open MPI's ABI (MPICH uses integer handles).");
        return address;
    }

    /// <summary><c>MPI_Get_library_version</c>'s text (callable before MPI_Init).</summary>
    public static string LibraryVersion()
    {
        Open();
        byte* text = stackalloc byte[512];
        int rc = MPI_Get_library_version(text, out int len);
        if (rc != Success) throw new MpiException("MPI_Get_library_version", rc, "(no error text before initialisation)");
        return Encoding.UTF8.GetString(text, Math.Clamp(len, 0, 511)).TrimEnd('\0', '\n', ' ');
    }

    /// <summary><c>MPI_Error_string</c>'s text for <paramref name="code"/>.</summary>
    public static string ErrorText(int code)
    {
        byte* text = stackalloc byte[1024];
        int len = 0;
        try
        {
            if (MPI_Error_string(code, text, out len) != Success) return "(unknown MPI error)";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return "(libmpi not loaded)";
        }
        return Encoding.UTF8.GetString(text, Math.Clamp(len, 0, 1023)).TrimEnd('\0');
    }

    /// <summary>Throws <see cref="MpiException"/> naming <paramref name="call"/> when <paramref name="rc"/> is not MPI_SUCCESS.</summary>
    public static void Check(int rc, string call)
    {
        if (rc != Success) throw new MpiException(call, rc, ErrorText(rc));
    }

    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern IntPtr dlopen(string file, int mode);

    [DllImport("libc", EntryPoint = "dlerror")]
    private static extern IntPtr dlerror();

    [DllImport("libdl.so.2", EntryPoint = "dlopen")]
    private static extern IntPtr dlopen_libdl(string file, int mode);

    [DllImport("libdl.so.2", EntryPoint = "dlerror")]
    private static extern IntPtr dlerror_libdl();

    [DllImport(Library)] public static extern int MPI_Init_thread(IntPtr argc, IntPtr argv, int required, out int provided);
    [DllImport(Library)] public static extern int MPI_Initialized(out int flag);
    [DllImport(Library)] public static extern int MPI_Finalized(out int flag);
    [DllImport(Library)] public static extern int MPI_Finalize();
    [DllImport(Library)] public static extern int MPI_Abort(IntPtr comm, int errorcode);
    [DllImport(Library)] public static extern int MPI_Comm_rank(IntPtr comm, out int rank);
    [DllImport(Library)] public static extern int MPI_Comm_size(IntPtr comm, out int size);
    [DllImport(Library)] public static extern int MPI_Comm_set_errhandler(IntPtr comm, IntPtr errhandler);
    [DllImport(Library)] public static extern int MPI_Barrier(IntPtr comm);
    [DllImport(Library)] public static extern int MPI_Bcast(void* buf, int count, IntPtr type, int root, IntPtr comm);
    [DllImport(Library)] public static extern int MPI_Allreduce(void* send, void* recv, int count, IntPtr type, IntPtr op, IntPtr comm);
    [DllImport(Library)] public static extern int MPI_Iallreduce(void* send, void* recv, int count, IntPtr type, IntPtr op, IntPtr comm, out IntPtr request);
    [DllImport(Library)] public static extern int MPI_Sendrecv(void* sbuf, int scount, IntPtr stype, int dest, int stag,
        void* rbuf, int rcount, IntPtr rtype, int source, int rtag, IntPtr comm, IntPtr status);
    [DllImport(Library)] public static extern int MPI_Isend(void* buf, int count, IntPtr type, int dest, int tag, IntPtr comm, out IntPtr request);
    [DllImport(Library)] public static extern int MPI_Irecv(void* buf, int count, IntPtr type, int source, int tag, IntPtr comm, out IntPtr request);
    [DllImport(Library)] public static extern int MPI_Wait(ref IntPtr request, IntPtr status);
    [DllImport(Library)] public static extern int MPI_Waitall(int count, IntPtr* requests, IntPtr statuses);
    [DllImport(Library)] public static extern int MPI_Test(ref IntPtr request, out int flag, IntPtr status);
    [DllImport(Library)] public static extern double MPI_Wtime();
    [DllImport(Library)] public static extern int MPI_Get_library_version(byte* version, out int len);
    [DllImport(Library)] public static extern int MPI_Error_string(int code, byte* text, out int len);
}
