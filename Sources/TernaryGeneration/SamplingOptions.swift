/// How the next token is chosen. Temperature 0 means greedy.
public struct SamplingOptions: Sendable, Equatable {
    public var temperature: Float = 0.8
    public var topK: Int = 40           // 0 = off
    public var topP: Float = 0.95       // 1 = off
    public var minP: Float = 0.05       // 0 = off
    public var repetitionPenalty: Float = 1.1  // 1 = off
    public var repetitionWindow: Int = 64
    /// OpenAI's penalties over the same window: a token's logit is lowered by `presencePenalty`
    /// if it appears there and by `frequencyPenalty` times its count (0 = off; −2…2).
    public var presencePenalty: Float = 0
    public var frequencyPenalty: Float = 0
    /// Added to these tokens' logits before anything else (OpenAI's `logit_bias`, −100…100):
    /// −100 all but bans a token, +100 all but forces it.
    public var logitBias: [Int: Float] = [:]
    public var seed: UInt64 = 0

    public init() {}

    public static var greedy: SamplingOptions {
        var o = SamplingOptions()
        o.temperature = 0
        o.repetitionPenalty = 1
        return o
    }

    /// Rejects absurd values with a message naming the option.
    public func validate() throws {
        func bad(_ option: String, _ value: Any, _ expected: String) -> GenerationError {
            .badOption(option: option, value: "\(value)", expected: expected)
        }
        guard temperature.isFinite, temperature >= 0 else { throw bad("--temperature", temperature, "a number >= 0") }
        guard topK >= 0 else { throw bad("--top-k", topK, "an integer >= 0 (0 disables it)") }
        guard topP.isFinite, topP > 0, topP <= 1 else { throw bad("--top-p", topP, "a number in (0, 1]") }
        guard minP.isFinite, minP >= 0, minP < 1 else { throw bad("--min-p", minP, "a number in [0, 1)") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else { throw bad("--repeat-penalty", repetitionPenalty, "a number > 0 (1 disables it)") }
        guard presencePenalty.isFinite, abs(presencePenalty) <= 2 else { throw bad("presence_penalty", presencePenalty, "a number in [-2, 2]") }
        guard frequencyPenalty.isFinite, abs(frequencyPenalty) <= 2 else { throw bad("frequency_penalty", frequencyPenalty, "a number in [-2, 2]") }
        guard repetitionWindow >= 0 else { throw bad("--repeat-last-n", repetitionWindow, "an integer >= 0") }
        if let (token, bias) = logitBias.first(where: { $0.key < 0 || !$0.value.isFinite || abs($0.value) > 100 }) {
            throw bad("logit_bias", "\(token): \(bias)", "token ids >= 0 with biases in [-100, 100]")
        }
    }
}

public enum GenerationError: Error, CustomStringConvertible {
    case badOption(option: String, value: String, expected: String)
    case emptyPrompt
    case notEnoughTokens(have: Int, needed: Int)
    case nonFiniteLogits(token: Int, value: Float)
    /// No token of the vocabulary continues the text in the requested output format.
    case formatUnreachable

    public var description: String {
        switch self {
        case let .badOption(option, value, expected): "\(option) \(value) is invalid: expected \(expected)"
        case .emptyPrompt: "the prompt is empty; give some text to continue"
        case let .notEnoughTokens(have, needed):
            "the text has \(have) tokens, fewer than one chunk of \(needed); use a longer file or a smaller --ctx"
        case .formatUnreachable:
            "no token of the model's vocabulary continues the text in the requested format (JSON); ask for plain text instead"
        case let .nonFiniteLogits(token, value):
            "the model produced a non-finite logit (\(value) for token \(token)); its weights are probably corrupt (a NaN or infinity in a tensor, or flipped bits): re-pack or re-download the model"
        }
    }
}
