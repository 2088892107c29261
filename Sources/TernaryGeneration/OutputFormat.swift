import TernaryTokenizer

/// What shape the generated text must have. With `.jsonObject` (OpenAI's `response_format:
/// {"type": "json_object"}`, Ollama's `format: "json"`) only tokens that keep the text the start
/// of one JSON object are picked, and the completion ends as soon as the object closes;
/// `.jsonSchema` (structured outputs) holds it to a value the schema accepts.
public enum OutputFormat: Sendable, Equatable {
    case text
    case jsonObject
    case jsonSchema(JSONSchema)
}

/// A byte-by-byte checker of a format: `JSONPrefix` or `JSONSchemaPrefix`.
enum FormatChecker: Equatable {
    case object(JSONPrefix)
    case schema(JSONSchemaPrefix)

    init?(_ format: OutputFormat) {
        switch format {
        case .text: return nil
        case .jsonObject: self = .object(JSONPrefix())
        case let .jsonSchema(schema): self = .schema(JSONSchemaPrefix(schema: schema))
        }
    }

    var isComplete: Bool {
        switch self {
        case let .object(p): p.isComplete
        case let .schema(p): p.isComplete
        }
    }

    mutating func consume(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        switch self {
        case var .object(p):
            defer { self = .object(p) }
            return p.consume(bytes)
        case var .schema(p):
            defer { self = .schema(p) }
            return p.consume(bytes)
        }
    }
}

/// Every token's bytes in one flat buffer, for checking many tokens against an output format
/// without an allocation per token. Special tokens (BOS, EOS, end of turn) have none and are
/// marked. Built once per tokenizer and shared (immutable).
public final class TokenBytes: Sendable {
    public let count: Int
    private let bytes: [UInt8]
    private let ends: [Int32]
    private let special: [Bool]

    public init(tokenizer: any Tokenizer) {
        count = tokenizer.vocabularySize
        var bytes: [UInt8] = [], ends: [Int32] = [], special: [Bool] = []
        ends.reserveCapacity(count)
        special.reserveCapacity(count)
        for id in 0..<count {
            let isSpecial = tokenizer.isSpecial(id)
            // A token whose bytes cannot be read is never picked under a format (as if special).
            let text = isSpecial ? nil : try? tokenizer.bytes(of: id)
            bytes += text ?? []
            ends.append(Int32(bytes.count))
            special.append(text == nil)
        }
        self.bytes = bytes
        self.ends = ends
        self.special = special
    }

    public func isSpecial(_ id: Int) -> Bool { special[id] }

    /// For every token: whether it has bytes, is not special, and `state` takes them all.
    func accepted(from state: FormatChecker) -> [Bool] {
        switch state {
        case let .object(p): accepted(from: p)
        case let .schema(p): accepted(from: p)
        }
    }

    /// Which first bytes `state` takes is worked out once (256 checks), so most tokens are settled
    /// by a table lookup and only those whose first byte fits are checked in full, from a copy.
    private func accepted<Checker: ByteChecker>(from state: Checker) -> [Bool] {
        var firstTaken = [Bool](repeating: false, count: 256)
        for byte in 0..<256 {
            var next = state
            firstTaken[byte] = next.consume(UInt8(byte))
        }
        return [Bool](unsafeUninitializedCapacity: count) { flags, initialized in
            bytes.withUnsafeBufferPointer { bytes in
                var start = 0
                for id in 0..<count {
                    let end = Int(ends[id])
                    var ok = end > start && !special[id] && firstTaken[Int(bytes[start])]
                    if ok, end - start > 1 {
                        var next = state
                        var i = start
                        while ok, i < end {
                            ok = next.consume(bytes[i])
                            i += 1
                        }
                    }
                    flags[id] = ok
                    start = end
                }
            }
            initialized = count
        }
    }

    /// Calls `body` with token `id`'s bytes.
    func withBytes<R>(of id: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let start = id == 0 ? 0 : Int(ends[id - 1]), end = Int(ends[id])
        return bytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start..<end])) }
    }
}

/// Holds a completion to an output format: which tokens may come next, and whether the text is
/// whole. `Completion` asks `allows` of the token it sampled and, only when that one would break
/// the format, samples again from the tokens `allowedTokens` lists (llama.cpp applies its
/// grammars the same way: checking the whole vocabulary every step would cost far more).
struct FormatConstraint {
    let tokens: TokenBytes
    let stopTokens: Set<Int>
    private(set) var state: FormatChecker

    init?(format: OutputFormat, tokens: TokenBytes, stopTokens: Set<Int>) {
        guard let state = FormatChecker(format) else { return nil }
        self.state = state
        self.tokens = tokens
        self.stopTokens = stopTokens
    }

    var isComplete: Bool { state.isComplete }

    /// Whether `token` keeps the text valid. Stop tokens and other special tokens never do while
    /// the object is open (and the completion ends once it closes).
    func allows(_ token: Int) -> Bool {
        guard token >= 0, token < tokens.count, !tokens.isSpecial(token), !stopTokens.contains(token) else { return false }
        var next = state
        return tokens.withBytes(of: token) { !$0.isEmpty && next.consume($0) }
    }

    /// `allows` for every token of the vocabulary. The last few states' lists are kept: a model
    /// that keeps wanting what the format forbids (a line break inside a string) asks again and
    /// again in the same state.
    mutating func allowedTokens() -> [Bool] {
        if let hit = recent.first(where: { $0.state == state }) { return hit.allowed }
        var allowed = tokens.accepted(from: state)
        for token in stopTokens where token >= 0 && token < allowed.count { allowed[token] = false }
        if recent.count == Self.recentLimit { recent.removeFirst() }
        recent.append((state, allowed))
        return allowed
    }

    private static let recentLimit = 8
    private var recent: [(state: FormatChecker, allowed: [Bool])] = []

    mutating func accept(_ token: Int) {
        let ok = tokens.withBytes(of: token) { state.consume($0) }
        precondition(ok, "token \(token) was picked but breaks the output format")
    }
}
