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
    /// in the reply's text, in Unicode code points; advanced past them.
    func text(_ items: [(token: Int, entry: TokenLogprob?)], offset: inout Int) -> JSONValue {
        var tokens: [JSONValue] = [], logprobs: [JSONValue] = [], tops: [JSONValue] = [], offsets: [JSONValue] = []
        for (token, entry) in items {
            let shown = text(token)
            tokens.append(.string(shown))
            offsets.append(.int(offset))
            offset += shown.unicodeScalars.count
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
