namespace SharpOptim.Optimizers;

/// <summary>What <see cref="Lanton"/> measures, per layer and step, as its gradient-noise sample (in the layer's dual norm).</summary>
public enum LantonNoiseEstimate
{
    /// <summary>‖G_t − G_{t−1}‖²: two consecutive stochastic gradients differ by their noise (2σ² in expectation for
    /// independent batches) plus the drift of the true gradient over one step. Keeps the previous gradient (one more
    /// tensor of the parameter's size).</summary>
    GradientDifference,

    /// <summary>‖G_t − B_{t−1}‖²: the gradient's deviation from the momentum before it is updated; no extra tensor,
    /// but the momentum's lag adds to the measurement.</summary>
    MomentumResidual,

    /// <summary>‖G_t − G'_t‖²: the difference of the gradients of two independent mini-batches at the same point
    /// (2σ² in expectation, with no drift term). The second batch's gradient is handed over before each
    /// <c>step()</c> by <see cref="Lanton.CaptureNoiseGradients"/> (backward on batch B, capture, zero_grad, backward
    /// on batch A, step: A's gradient drives the update, B's only measures the noise); samples start at the first
    /// update. No extra state tensor.</summary>
    IndependentBatches,
}
