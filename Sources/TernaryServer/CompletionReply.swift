import Foundation
import Hummingbird
import TernaryFormat
import TernaryGeneration

/// Turns a generation's events into OpenAI's response shapes: one JSON object, or server-sent
/// events (`data: {chunk}` … `data: [DONE]`).
struct CompletionReply: Sendable {
    enum Kind { case chat, text }
    let kind: Kind
    let model: String
    let includeUsage: Bool
    /// Set when the request asked for token log-probabilities.
    let logprobs: LogprobReply?
    /// A text completion's `echo`: the prompt's text comes first, and with `logprobs` its tokens'
    /// entries (the first token's are null: nothing comes before it).
    struct Echo: Sendable {
        var text: String
        var firstToken: Int
        var tokenCount: Int
    }
    let echo: Echo?
    let id: String
    let created = Int(Date().timeIntervalSince1970)

    typealias Item = (token: Int, entry: TokenLogprob?)

    init(kind: Kind, model: String, includeUsage: Bool, logprobs: LogprobReply? = nil, echo: Echo? = nil) {
        self.kind = kind
        self.model = model
        self.includeUsage = includeUsage
        self.logprobs = logprobs
        self.echo = echo
        id = (kind == .chat ? "chatcmpl-" : "cmpl-") + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    private var object: String { kind == .chat ? "chat.completion" : "text_completion" }
    private var chunkObject: String { kind == .chat ? "chat.completion.chunk" : "text_completion" }

    private func head(_ object: String) -> [(String, JSONValue)] {
        [("id", .string(id)), ("object", .string(object)), ("created", .int(created)), ("model", .string(model))]
    }

    static func usage(_ s: CompletionSummary) -> JSONValue {
        .object([("prompt_tokens", .int(s.promptTokens)), ("completion_tokens", .int(s.tokens.count)),
                 ("total_tokens", .int(s.promptTokens + s.tokens.count)),
                 ("prompt_tokens_details", .object([("cached_tokens", .int(s.cachedTokens))]))])
    }

    /// llama-server's `timings`.
    static func timings(_ s: CompletionSummary) -> JSONValue {
        let promptN = s.promptTokens - s.cachedTokens, predictedN = s.tokens.count
        let promptMs = s.prefillSeconds * 1000, predictedMs = s.decodeSeconds * 1000
        return .object([
            ("cache_n", .int(s.cachedTokens)), ("prompt_n", .int(promptN)), ("prompt_ms", .double(promptMs)),
            ("prompt_per_token_ms", .double(promptN > 0 ? promptMs / Double(promptN) : 0)),
            ("prompt_per_second", .double(promptMs > 0 ? Double(promptN) * 1000 / promptMs : 0)),
            ("predicted_n", .int(predictedN)), ("predicted_ms", .double(predictedMs)),
            ("predicted_per_token_ms", .double(predictedN > 0 ? predictedMs / Double(predictedN) : 0)),
            ("predicted_per_second", .double(predictedMs > 0 ? Double(predictedN) * 1000 / predictedMs : 0)),
        ])
    }

    /// The `logprobs` of a choice: null unless asked for; in a stream, null in chunks without tokens.
    /// `offset`: text completions' running `text_offset`.
    private func logprobsValue(_ items: [Item], whole: Bool, offset: inout TextOffset) -> JSONValue {
        guard let logprobs, whole || !items.isEmpty else { return .null }
        return kind == .chat ? logprobs.chat(items.compactMap(\.entry), whole: whole) : logprobs.text(items, offset: &offset)
    }

    /// The completion's tokens start where the echoed prompt's text ends, however the prompt's
    /// tokens decode (a tokenizer may not give its input back exactly).
    private func textOffset() -> TextOffset {
        guard let echo else { return TextOffset() }
        return TextOffset(restartingAfter: echo.tokenCount, at: echo.text.unicodeScalars.count)
    }

    private static func items(_ entries: [TokenLogprob]) -> [Item] { entries.map { ($0.token, $0) } }

    /// The echoed prompt's items: its first token without an entry, then the scheduler's.
    private func promptItems(_ entries: [TokenLogprob]) -> [Item] {
        guard let echo else { return [] }
        return [(echo.firstToken, nil)] + Self.items(entries)
    }

    private func choice(text: String, finish: String?, logprobs items: [Item]) -> JSONValue {
        let finishValue = finish.map(JSONValue.string) ?? .null
        var offset = textOffset()
        let logprobs = logprobsValue(items, whole: true, offset: &offset)
        switch kind {
        case .chat:
            return .object([("index", .int(0)), ("message", .object([("role", .string("assistant")), ("content", .string(text))])),
                            ("logprobs", logprobs), ("finish_reason", finishValue)])
        case .text:
            return .object([("index", .int(0)), ("text", .string(text)), ("logprobs", logprobs), ("finish_reason", finishValue)])
        }
    }

    private func chunk(delta: [(String, JSONValue)], text: String, finish: String?, logprobs: JSONValue = .null) -> JSONValue {
        let finishValue = finish.map(JSONValue.string) ?? .null
        let choice: JSONValue = kind == .chat
            ? .object([("index", .int(0)), ("delta", .object(delta)), ("logprobs", logprobs), ("finish_reason", finishValue)])
            : .object([("index", .int(0)), ("text", .string(text)), ("logprobs", logprobs), ("finish_reason", finishValue)])
        return .object(head(chunkObject) + [("choices", .array([choice]))])
    }

    /// The whole reply at once.
    func whole(_ handle: GenerationHandle, metrics: ServerMetrics) async throws -> Response {
        var items: [Item] = []
        var summary: CompletionSummary?
        do {
            for try await event in handle.events {
                switch event {
                case let .prompt(logprobs): items = promptItems(logprobs) + items
                case let .text(_, logprobs): items += Self.items(logprobs)
                case let .done(s): summary = s
                }
            }
        } catch {
            throw APIError.server("Generation failed: \(error)")
        }
        guard let summary else { throw APIError.unavailable("The server is shutting down", retryAfter: 5) }
        metrics.completed(summary)
        return JSONResponse.make(.object(head(object) + [
            ("choices", .array([choice(text: (echo?.text ?? "") + summary.text, finish: summary.stopReason.finishReason, logprobs: items)])),
            ("usage", Self.usage(summary)), ("timings", Self.timings(summary)),
        ]))
    }

    /// Server-sent events; a client that goes away stops the generation (the handle is released).
    func stream(_ handle: GenerationHandle, metrics: ServerMetrics) -> Response {
        let reply = self
        let body = ResponseBody { writer in
            defer { handle.cancel() }
            func send(_ value: JSONValue) async throws {
                try await writer.write(ByteBuffer(string: "data: " + value.serialized(sortKeys: false) + "\n\n"))
            }
            if reply.kind == .chat {
                try await send(reply.chunk(delta: [("role", .string("assistant")), ("content", .string(""))], text: "", finish: nil))
            }
            var offset = reply.textOffset()
            if let echo = reply.echo, reply.logprobs == nil {
                try await send(reply.chunk(delta: [], text: echo.text, finish: nil))
            }
            do {
                for try await event in handle.events {
                    switch event {
                    case let .prompt(entries):
                        // Only with an echo: the prompt's text with its entries.
                        let logprobs = reply.logprobsValue(reply.promptItems(entries), whole: false, offset: &offset)
                        try await send(reply.chunk(delta: [], text: reply.echo?.text ?? "", finish: nil, logprobs: logprobs))
                    case let .text(piece, entries):
                        let logprobs = reply.logprobsValue(Self.items(entries), whole: false, offset: &offset)
                        try await send(reply.chunk(delta: [("content", .string(piece))], text: piece, finish: nil, logprobs: logprobs))
                    case let .done(summary):
                        metrics.completed(summary)
                        var last = reply.chunk(delta: [], text: "", finish: summary.stopReason.finishReason)
                        if case let .object(pairs) = last { last = .object(pairs + [("timings", Self.timings(summary))]) }
                        try await send(last)
                        if reply.includeUsage {
                            try await send(.object(reply.head(reply.chunkObject) + [("choices", .array([])), ("usage", Self.usage(summary))]))
                        }
                    }
                }
            } catch let error as APIError {
                try await send(error.json)
            } catch {
                try await send(APIError.server("Generation failed: \(error)").json)
            }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}
