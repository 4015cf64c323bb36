namespace SharpOptim.Bilevel;

/// <summary>
/// How many oracle calls a <see cref="HypergradientOracle"/> has answered: <see cref="UpperGradients"/> (one backward of
/// f giving ∇_x f and ∇_y f), <see cref="LowerGradients"/> (one backward of g) and <see cref="SecondOrder"/> (one
/// double-backward of g giving ∇²_yy g·v, and ∇²_xy g·v when asked). <see cref="Total"/> counts each call once.
/// </summary>
public readonly record struct OracleCounts(long UpperGradients, long LowerGradients, long SecondOrder)
{
    /// <summary>All calls.</summary>
    public long Total => UpperGradients + LowerGradients + SecondOrder;
}
