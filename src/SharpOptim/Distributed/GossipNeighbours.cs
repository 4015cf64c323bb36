namespace SharpOptim.Distributed;

/// <summary>
/// What one worker needs to run a gossip round without seeing the whole matrix (what it needs under MPI): the weight
/// of its own vector <see cref="SelfWeight"/> = W_ii, the in-neighbours j ≠ i it receives from with their weights W_ij
/// (ascending rank, the fixed order in which received vectors are combined) and the out-neighbours k ≠ i it sends to
/// (those with W_ki &gt; 0, ascending rank).
/// </summary>
public sealed record GossipNeighbours(double SelfWeight, IReadOnlyList<int> In, IReadOnlyList<double> InWeights, IReadOnlyList<int> Out);
