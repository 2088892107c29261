import TernaryKernels

/// A generated token's log-probability under the model, and the most likely tokens at that step
/// (OpenAI's `logprobs`). The distribution is the model's own: the log-softmax of the step's raw
/// logits, before temperature, penalties or top-k/top-p/min-p (as vLLM reports by default), so
/// the numbers do not depend on how the token was sampled.
public struct TokenLogprob: Sendable, Equatable {
    public struct Alternative: Sendable, Equatable {
        public var token: Int
        public var logprob: Float

        public init(token: Int, logprob: Float) {
            self.token = token
            self.logprob = logprob
        }
    }

    public var token: Int
    public var logprob: Float
    /// The `top` most likely tokens, most likely first (ties: lower id first).
    public var top: [Alternative]

    /// Most alternatives one step may list (OpenAI's limit for `top_logprobs`).
    public static let maxAlternatives = 20

    /// `token`'s entry from the logits it was chosen from, with the `top` best alternatives
    /// (clamped to 0…`maxAlternatives`). The normalizer is one vectorised pass (`LogSumExp`).
    public init(logits: [Float], token: Int, top: Int) {
        let normalizer = logits.withUnsafeBufferPointer { LogSumExp.of($0) }
        func logprobOf(_ id: Int) -> Float { Float(Double(logits[id]) - normalizer) }
        self.token = token
        logprob = logprobOf(token)
        let count = min(max(top, 0), Self.maxAlternatives, logits.count)
        self.top = count == 0 ? [] : Sampler.ranked(logits, keep: count).map { Alternative(token: $0.id, logprob: logprobOf($0.id)) }
    }
}
