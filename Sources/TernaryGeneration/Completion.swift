import TernaryTokenizer

/// Why a generation ended.
public enum StopReason: String, Sendable {
    /// The model ended its text (EOS, end of turn), or the JSON object of `OutputFormat.jsonObject`
    /// closed.
    case eos
    /// A stop string appeared; the text ends before it.
    case stopString = "stop string"
    /// The requested number of tokens was generated.
    case length
    /// The sequence's context is full.
    case context
    /// The caller stopped it (Ctrl-C, a client that went away).
    case interrupted

    /// OpenAI's `finish_reason`.
    public var finishReason: String {
        switch self {
        case .eos, .stopString: "stop"
        case .length, .context: "length"
        case .interrupted: "stop"
        }
    }
}

/// The per-sequence half of generation: given each step's logits, picks the next token (the
/// sampler), turns tokens into text (whole UTF-8 characters), and decides when to stop (end of
/// text, stop strings, budget). Text that might be the start of a stop string is held back until
/// it is known not to be, so a stream never shows part of a stop string. `Generator` runs one of
/// these per call; `BatchScheduler` runs one per slot, many in one forward pass.
public struct Completion {
    public let tokenizer: any Tokenizer
    /// The most tokens this completion may add (after the context limit).
    public let budget: Int
    /// Why `budget` is what it is: `.length` (the request's maximum) or `.context` (the context).
    let budgetReason: StopReason
    public let stopStrings: [String]
    /// Whether end-of-text tokens are never picked, so the completion runs to its budget
    /// (llama.cpp's `ignore_eos`; for benchmarks).
    public let ignoresEndOfText: Bool
    private var sampler: Sampler
    private var decoder: StreamingDecoder
    private var history: [Int]
    public private(set) var generated: [Int] = []
    /// Decoded text not yet handed out (it may be the start of a stop string).
    private var held = ""
    /// All text handed out so far.
    public private(set) var text = ""
    public private(set) var stopReason: StopReason?
    /// How many alternatives each token's `TokenLogprob` lists; nil: no log-probabilities.
    public let logprobCount: Int?
    /// Entries of tokens whose text is not all handed out yet, with where that text starts and
    /// ends in the decoded bytes; and entries handed out but not yet taken.
    private var unshown: [(entry: TokenLogprob, start: Int, end: Int)] = []
    private var shown: [TokenLogprob] = []
    /// The output format's state, when the text must follow one.
    private var constraint: FormatConstraint?

    /// `prompt`: the tokens before the completion (their last one sets how the first piece is
    /// decoded; the repetition penalty looks back over them). `tokenBytes`: the tokenizer's table
    /// for an output format other than text (built here when not given; callers that start many
    /// completions build it once).
    public init(tokenizer: any Tokenizer, prompt: [Int], maxTokens: Int, capacityLeft: Int, options: SamplingOptions,
                stopStrings: [String] = [], ignoreEndOfText: Bool = false, logprobs: Int? = nil,
                format: OutputFormat = .text, tokenBytes: TokenBytes? = nil) {
        self.tokenizer = tokenizer
        logprobCount = logprobs
        ignoresEndOfText = ignoreEndOfText
        budget = max(0, min(maxTokens, capacityLeft))
        budgetReason = capacityLeft < maxTokens ? .context : .length
        self.stopStrings = stopStrings.filter { !$0.isEmpty }
        sampler = Sampler(options: options)
        decoder = StreamingDecoder(tokenizer: tokenizer, after: prompt.last)
        history = Array(prompt.suffix(max(options.repetitionWindow, 1)))
        if format != .text {
            constraint = FormatConstraint(format: format, tokens: tokenBytes ?? TokenBytes(tokenizer: tokenizer), stopTokens: tokenizer.stopTokens)
        }
        if budget == 0 { stopReason = budgetReason }
    }

    public var isFinished: Bool { stopReason != nil }

    /// Picks the next token from the logits of the last token fed. Returns the text it makes
    /// visible (possibly empty) and the token to feed next, or nil when the completion is over.
    public mutating func next(logits: [Float]) throws -> (text: String, feed: Int?) {
        precondition(stopReason == nil, "the completion is over")
        let modelLogits = logits
        var logits = logits
        if ignoresEndOfText {
            // Far below any real score but finite (the sampler rejects non-finite logits), so no
            // temperature or penalty makes these tokens likely.
            for token in tokenizer.stopTokens where logits.indices.contains(token) { logits[token] = -1e30 }
        }
        var token = try sampler.sample(logits, history: history)
        if constraint != nil {
            if !constraint!.allows(token) { token = try sampler.sample(logits, history: history, allowed: constraint!.allowedTokens()) }
            constraint!.accept(token)
        }
        if tokenizer.stopTokens.contains(token) { return (finish(.eos), nil) }
        generated.append(token)
        history.append(token)
        if history.count > 2 * max(sampler.options.repetitionWindow, 64) { history.removeFirst(history.count / 2) }
        let start = decoder.bytesIn
        held += try decoder.append(token)
        if let logprobCount {
            unshown.append((TokenLogprob(logits: modelLogits, token: token, top: logprobCount), start, decoder.bytesIn))
        }
        if let stop = firstStop() {
            let out = String(held[..<stop.lowerBound])
            held = ""
            text += out
            stopReason = .stopString
            settleLogprobs(final: true, cut: true)
            return (out, nil)
        }
        if constraint?.isComplete == true { return (finish(.eos), nil) }
        if generated.count == budget { return (finish(budgetReason), nil) }
        return (release(), token)
    }

    /// Ends the completion early (the caller stopped it); returns the text still held back.
    public mutating func interrupt() -> String {
        stopReason == nil ? finish(.interrupted) : ""
    }

    private mutating func finish(_ reason: StopReason) -> String {
        held += decoder.flush()
        var out = held
        let stop = firstStop()
        if let stop { out = String(held[..<stop.lowerBound]) }
        held = ""
        text += out
        stopReason = reason
        settleLogprobs(final: true, cut: stop != nil)
        return out
    }

    /// The held text, except a tail that could begin a stop string.
    private mutating func release() -> String {
        var keep = 0
        for stop in stopStrings {
            for length in stride(from: min(stop.count - 1, held.count), to: keep, by: -1)
            where held.hasSuffix(stop.prefix(length)) {
                keep = length
                break
            }
        }
        let cut = held.index(held.endIndex, offsetBy: -keep)
        let out = String(held[..<cut])
        held = String(held[cut...])
        text += out
        settleLogprobs(final: false, cut: false)
        return out
    }

    /// The log-probabilities of the tokens whose text has been handed out since the last call (an
    /// empty list when they were not asked for). A token's entry comes out with the last of its
    /// text; at a stop string, the tokens whose text starts before it (the rest are dropped, as
    /// their text is); at the end, all.
    public mutating func takeLogprobs() -> [TokenLogprob] {
        defer { shown.removeAll(keepingCapacity: true) }
        return shown
    }

    private mutating func settleLogprobs(final: Bool, cut: Bool) {
        guard !unshown.isEmpty else { return }
        let visible = text.utf8.count
        let count = cut ? unshown.prefix { $0.start < visible }.count : final ? unshown.count : unshown.prefix { $0.end <= visible }.count
        shown += unshown[..<count].map(\.entry)
        if final { unshown.removeAll() } else { unshown.removeFirst(count) }
    }

    private func firstStop() -> Range<String.Index>? {
        stopStrings.compactMap { held.firstRange(of: $0) }.min { $0.lowerBound < $1.lowerBound }
    }
}
