namespace SharpOptim.Optimizers;

/// <summary>The order in which FRUGAL's Blocks subspace makes blocks state-full at each refresh (the official code's
/// <c>block_order</c>; blocks are the projectable matrices, in parameter order).</summary>
public enum FrugalBlockOrder
{
    /// <summary>A random choice of the blocks at every refresh (the official class's default; drawn here from a
    /// seeded generator, so a resumed run draws the same blocks).</summary>
    Random = 0,
    /// <summary>Walk the blocks from the last one down, n at a time, wrapping around (the paper's pre-training runs).</summary>
    Descending = 1,
    /// <summary>Walk the blocks from the first one up, n at a time, wrapping around.</summary>
    Ascending = 2,
    /// <summary>Pairs of blocks mirrored from both ends (block i with block B − 1 − i), walking inwards; the number of
    /// active blocks must be even.</summary>
    Mirror = 3,
}
