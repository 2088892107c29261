import TernaryModels
import TernaryTokenizer

/// A conversation with a model, turn by turn: each reply renders the whole conversation with the
/// model's chat template and feeds only what its memory does not already hold (the longest common
/// token prefix is reused; where re-encoding the text differs from what was generated, the KV cache
/// is cut back to the prefix). When the context fills, the oldest turns are dropped. `ternary chat`
/// is a thin loop around this. The server is stateless per request (the client sends the whole
/// conversation), so it renders with the same `ChatTemplate`, generates through the same
/// `Completion`, and gets the prefix reuse from `BatchScheduler`'s prompt cache.
public final class ChatSession {
    public let generator: Generator
    public let template: ChatTemplate
    public private(set) var messages: [ChatMessage] = []
    public var options: SamplingOptions
    /// The shape each reply must have (JSON mode, structured outputs); plain text by default.
    public var format: OutputFormat
    public let speakers: (user: String, assistant: String)
    private let system: String?
    private var memory: SequenceMemory
    /// The tokens `memory` holds.
    private var fed: [Int] = []

    public init(generator: Generator, template: ChatTemplate, system: String? = nil, options: SamplingOptions = SamplingOptions(),
                speakers: (user: String, assistant: String) = ("You", "ROMEO"), format: OutputFormat = .text) {
        self.generator = generator
        self.format = format
        self.template = template
        self.system = system.flatMap { $0.isEmpty ? nil : $0 }
        self.options = options
        self.speakers = speakers
        memory = generator.makeMemory()
        reset()
    }

    /// Forget the conversation (the system message stays).
    public func reset() {
        messages = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        memory.reset()
        fed = []
    }

    /// The token ids the model reads for `messages` plus the start of the assistant's turn.
    public func promptIDs(for messages: [ChatMessage]) throws -> [Int] {
        try template.prompt(messages, tokenizer: generator.tokenizer, speakers: speakers).ids
    }

    /// Answers `text`, streaming the reply to `onText` (return false to stop early); the reply joins
    /// the conversation.
    @discardableResult
    public func respond(to text: String, maxTokens: Int, onText: (String) -> Bool) throws -> (reply: String, stats: GenerationStats) {
        messages.append(ChatMessage(role: "user", content: text))
        var prompt = try promptIDs(for: messages)
        // Drop the oldest turns (not the system message, not this one) until prompt and reply fit.
        while prompt.count + maxTokens > memory.capacity, let first = messages.firstIndex(where: { $0.role != "system" }),
              first < messages.count - 1 {
            messages.remove(at: first)
            if first < messages.count - 1, messages[first].role == "assistant" { messages.remove(at: first) }
            prompt = try promptIDs(for: messages)
        }
        if prompt.count + 1 > memory.capacity {
            // Even this turn alone is too long: keep its most recent tokens.
            prompt = Array(prompt.suffix(max(1, memory.capacity - min(maxTokens, memory.capacity / 2))))
        }
        var keep = zip(fed, prompt).prefix { $0 == $1 }.count
        keep = min(keep, prompt.count - 1)  // at least one token to feed, for the next token's logits
        if keep < fed.count, !memory.truncate(to: keep) {
            memory.reset()
            keep = 0
        }
        let budget = max(0, min(maxTokens, memory.capacity - prompt.count))
        var reply = ""
        let (ids, stats) = try generator.generate(
            promptIDs: Array(prompt[keep...]), maxTokens: budget, options: options, stopStrings: template.stopStrings, format: format,
            memory: memory
        ) { piece in
            reply += piece
            return onText(piece)
        }
        fed = Array((prompt + ids).prefix(memory.length))
        if let stop = template.stopStrings.first(where: { reply.contains($0) }), let cut = reply.firstRange(of: stop) {
            reply = String(reply[..<cut.lowerBound])
        }
        messages.append(ChatMessage(role: "assistant", content: reply))
        options.seed &+= 1
        return (reply, stats)
    }
}
