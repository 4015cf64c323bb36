namespace SharpOptim.Optimizers;

/// <summary>How Adam-mini groups a parameter's entries under one second-moment value.</summary>
public enum AdamMiniBlock
{
    /// <summary>One value per entry (plain Adam): biases.</summary>
    Entry,
    /// <summary>One value per attention head: queries and keys.</summary>
    Head,
    /// <summary>One value per row (output neuron, or token for embeddings and the output layer).</summary>
    Row,
    /// <summary>One value for the whole tensor.</summary>
    Tensor,
}
