import TernaryFormat
import TernaryGeneration
import TernaryTokenizer

/// Token log-probabilities in OpenAI's two shapes. A token is shown as its own bytes decoded as
/// UTF-8 (a piece of a character split across tokens reads as U+FFFD) and, in chat, as the bytes
/// themselves, so a client can rebuild the exact text.
struct LogprobReply: Sendable {
    let tokenizer: any Tokenizer

    private func bytes(_ token: Int) -> [UInt8] { (try? tokenizer.bytes(of: token)) ?? [] }
    private func text(_ token: Int) -> String { String(decoding: bytes(token), as: UTF8.self) }

    private func chatToken(_ token: Int, _ logprob: Float) -> [(String, JSONValue)] {
        [("token", .string(text(token))), ("logprob", .double(Double(logprob))), ("bytes", .array(bytes(token).map { .int(Int($0)) }))]
    }

    /// Chat completions: `{"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}`.
    func chat(_ entries: [TokenLogprob], whole: Bool) -> JSONValue {
        let content: [JSONValue] = entries.map { entry in
            .object(chatToken(entry.token, entry.logprob)
                + [("top_logprobs", .array(entry.top.map { .object(chatToken($0.token, $0.logprob)) }))])
        }
        return .object([("content", .array(content))] + (whole ? [("refusal", .null)] : []))
    }

    /// Text completions: `{"tokens", "token_logprobs", "top_logprobs": [{token: logprob}], "text_offset"}`.
    /// Each step's map holds the asked-for alternatives and the chosen token (up to n + 1 keys, as
    /// OpenAI documents); tokens that read the same keep the likelier one. A token without an entry
    /// (an echoed prompt's first) has null for both. `offset`: where the first token's text starts
    /// in the reply's text; advanced past them.
    func text(_ items: [(token: Int, entry: TokenLogprob?)], offset: inout TextOffset) -> JSONValue {
        var tokens: [JSONValue] = [], logprobs: [JSONValue] = [], tops: [JSONValue] = [], offsets: [JSONValue] = []
        for (token, entry) in items {
            tokens.append(.string(text(token)))
            offsets.append(.int(offset.next(bytes(token))))
            guard let entry else {
                logprobs.append(.null)
                tops.append(.null)
                continue
            }
            logprobs.append(.double(Double(entry.logprob)))
            var seen = Set<String>(), top: [(String, JSONValue)] = []
            for alternative in entry.top + [TokenLogprob.Alternative(token: entry.token, logprob: entry.logprob)] {
                let key = text(alternative.token)
                if seen.insert(key).inserted { top.append((key, .double(Double(alternative.logprob)))) }
            }
            tops.append(.object(top))
        }
        return .object([("tokens", .array(tokens)), ("token_logprobs", .array(logprobs)), ("top_logprobs", .array(tops)),
                        ("text_offset", .array(offsets))])
    }
}

/// Text completions' running `text_offset`: where each token's text starts in the reply's text, in
/// Unicode code points (as OpenAI counts). A character split across tokens counts once, when its
/// last byte comes, so the tokens that carry its pieces all point at it and the ones after it
/// point past it, as they would in the decoded text.
struct TextOffset {
    private(set) var codePoints = 0
    /// The bytes of a character not yet whole (at most three).
    private var pending: [UInt8] = []
    /// After this many tokens (an echoed prompt's), the next starts at `restart` (where the
    /// prompt's text ends), whatever came before.
    private var tokensBeforeRestart: Int?
    private var restart = 0

    init() {}

    init(restartingAfter tokens: Int, at codePoints: Int) {
        tokensBeforeRestart = tokens
        restart = codePoints
    }

    /// Where a token with these bytes starts; advances past them.
    mutating func next(_ bytes: [UInt8]) -> Int {
        if tokensBeforeRestart == 0 {
            codePoints = restart
            pending = []
        }
        tokensBeforeRestart = tokensBeforeRestart.map { $0 - 1 }
        let start = codePoints
        pending += bytes
        let whole = pending.count - Self.unfinishedTail(pending)
        if whole > 0 {
            codePoints += String(decoding: pending[..<whole], as: UTF8.self).unicodeScalars.count
            pending.removeFirst(whole)
        }
        return start
    }

    /// How many bytes at the end start a character that more bytes could still complete.
    static func unfinishedTail(_ bytes: [UInt8]) -> Int {
        var continuations = 0
        for byte in bytes.reversed().prefix(4) {
            if byte & 0xC0 == 0x80 {
                continuations += 1
                continue
            }
            let needed = switch byte {
            case 0xC2...0xDF: 1
            case 0xE0...0xEF: 2
            case 0xF0...0xF4: 3
            default: 0  // ASCII, or a byte that never starts a character
            }
            return needed > continuations ? continuations + 1 : 0
        }
        return 0
    }
}
