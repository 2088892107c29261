import TernaryFormat
import TernaryGeneration

/// A request body's fields, read strictly: the body must be one JSON object (a key twice is an
/// error), every field has the type OpenAI documents, and a field this server does not know is an
/// error naming it (as OpenAI's API answers), so a client never silently loses an option.
struct RequestFields {
    private let fields: [String: JSONValue]

    init(body: [UInt8]) throws {
        let value: JSONValue
        do { value = try JSONParser().parse(body) } catch {
            throw APIError.invalid("The request body is not valid JSON: \(error)")
        }
        guard case let .object(pairs) = value else { throw APIError.invalid("The request body must be a JSON object") }
        fields = Dictionary(pairs, uniquingKeysWith: { a, _ in a })
    }

    /// Fields this endpoint reads; `ignored` are accepted and have no effect here.
    func rejectUnknown(known: Set<String>, ignored: Set<String> = []) throws {
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) && !ignored.contains($0) }) {
            throw APIError.invalid("Unrecognized request argument supplied: \(unknown)", param: unknown)
        }
    }

    func has(_ key: String) -> Bool { fields[key].map { !$0.isNull } ?? false }
    func raw(_ key: String) -> JSONValue? { fields[key].flatMap { $0.isNull ? nil : $0 } }

    func string(_ key: String) throws -> String? {
        guard let value = raw(key) else { return nil }
        guard let s = value.string else { throw APIError.invalid("'\(key)' must be a string", param: key) }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = raw(key) else { return nil }
        guard let b = value.boolean else { throw APIError.invalid("'\(key)' must be true or false", param: key) }
        return b
    }

    func number(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let value = raw(key) else { return nil }
        guard let d = value.number, d.isFinite, range.contains(d) else {
            throw APIError.invalid("'\(key)' must be a number in [\(range.lowerBound), \(range.upperBound)]", param: key)
        }
        return d
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = raw(key) else { return nil }
        guard let i = value.integer, range.contains(i) else {
            throw APIError.invalid("'\(key)' must be an integer in [\(range.lowerBound), \(range.upperBound)]", param: key)
        }
        return i
    }
}

/// What chat and text completions share: sampling, length, stop strings, streaming.
struct CompletionParameters {
    var maxTokens: Int?
    var options: SamplingOptions
    var stop: [String]
    var stream: Bool
    var includeUsage: Bool
    /// llama-server's `ignore_eos`: generate `max_tokens` even past the end of the text.
    var ignoreEndOfText = false
    /// Token log-probabilities with this many alternatives each; nil: none. Each endpoint reads its
    /// own fields for it (chat: `logprobs` and `top_logprobs`; text: `logprobs`, a count).
    var logprobs: Int?
    /// `response_format`: text, or JSON mode (`{"type": "json_object"}`).
    var format = OutputFormat.text

    static let known: Set<String> = [
        "model", "max_tokens", "temperature", "top_p", "top_k", "min_p", "seed", "stop", "stream", "stream_options", "n",
        "presence_penalty", "frequency_penalty", "repeat_penalty", "repeat_last_n", "logprobs", "logit_bias", "user", "ignore_eos",
        "response_format",
    ]

    /// Server defaults are llama-server's: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no
    /// repetition penalty; no seed means a fresh random one.
    init(_ f: RequestFields, maxTokensKeys: [String] = ["max_tokens"]) throws {
        var options = SamplingOptions()
        options.repetitionPenalty = 1
        options.seed = UInt64.random(in: 0...UInt64.max)
        if let t = try f.number("temperature", in: 0...2) { options.temperature = Float(t) }
        if let p = try f.number("top_p", in: 0...1) {
            guard p > 0 else { throw APIError.invalid("'top_p' must be above 0", param: "top_p") }
            options.topP = Float(p)
        }
        if let k = try f.integer("top_k", in: 0...Int(Int32.max)) { options.topK = k }
        if let m = try f.number("min_p", in: 0...1) {
            guard m < 1 else { throw APIError.invalid("'min_p' must be below 1", param: "min_p") }
            options.minP = Float(m)
        }
        if let seed = f.raw("seed") {
            guard let s = seed.integer else { throw APIError.invalid("'seed' must be an integer", param: "seed") }
            options.seed = UInt64(bitPattern: Int64(s))
        }
        if let p = try f.number("presence_penalty", in: -2...2) { options.presencePenalty = Float(p) }
        if let p = try f.number("frequency_penalty", in: -2...2) { options.frequencyPenalty = Float(p) }
        if let p = try f.number("repeat_penalty", in: 0...10) {
            guard p > 0 else { throw APIError.invalid("'repeat_penalty' must be above 0", param: "repeat_penalty") }
            options.repetitionPenalty = Float(p)
        }
        if let n = try f.integer("repeat_last_n", in: 0...1_000_000) { options.repetitionWindow = n }
        self.options = options
        for key in maxTokensKeys {
            if let n = try f.integer(key, in: 0...Int(Int32.max)) { maxTokens = n }
        }
        if let n = f.raw("n") {
            guard n.integer == 1 else { throw APIError.invalid("'n' must be 1: this server returns one choice per request", param: "n") }
        }
        switch f.raw("stop") {
        case nil: stop = []
        case let .string(s)?: stop = [s]
        case let .array(items)?:
            stop = try items.map { item in
                guard let s = item.string else { throw APIError.invalid("'stop' must be a string or a list of strings", param: "stop") }
                return s
            }
            guard stop.count <= 16 else { throw APIError.invalid("'stop' may hold at most 16 strings", param: "stop") }
        default: throw APIError.invalid("'stop' must be a string or a list of strings", param: "stop")
        }
        stop = stop.filter { !$0.isEmpty }
        stream = try f.bool("stream") ?? false
        ignoreEndOfText = try f.bool("ignore_eos") ?? false
        includeUsage = false
        if let streamOptions = f.raw("stream_options") {
            guard case let .object(pairs) = streamOptions else { throw APIError.invalid("'stream_options' must be an object", param: "stream_options") }
            for (key, value) in pairs {
                guard key == "include_usage", let b = value.boolean else {
                    throw APIError.invalid("'stream_options' takes only include_usage (true or false)", param: "stream_options")
                }
                includeUsage = b
            }
        }
        switch f.raw("logit_bias") {
        case nil: break
        case let .object(pairs)?:
            guard pairs.count <= 1024 else { throw APIError.invalid("'logit_bias' may hold at most 1024 tokens", param: "logit_bias") }
            for (key, value) in pairs {
                guard let token = Int(key), token >= 0, let bias = value.number, bias.isFinite, abs(bias) <= 100 else {
                    throw APIError.invalid("'logit_bias' maps token ids (strings of integers >= 0) to numbers in [-100, 100]; '\(key)' does not",
                                           param: "logit_bias")
                }
                self.options.logitBias[token] = Float(bias)
            }
        default: throw APIError.invalid("'logit_bias' must be an object of token ids to biases", param: "logit_bias")
        }
        if let format = f.raw("response_format") {
            guard case .object = format, let type = format["type"]?.string else {
                throw APIError.invalid("'response_format' must be an object with a string 'type'", param: "response_format")
            }
            switch type {
            case "text": self.format = .text
            case "json_object": self.format = .jsonObject
            case "json_schema":
                guard let schema = format["json_schema"]?["schema"] else {
                    throw APIError.invalid("'response_format' of type json_schema needs 'json_schema': {\"name\": …, \"schema\": {…}}", param: "response_format")
                }
                do { self.format = .jsonSchema(try JSONSchema(schema)) } catch let error as JSONSchema.CompileError {
                    throw APIError.invalid("'response_format.json_schema.schema' is not supported: \(error)", param: "response_format")
                }
            default:
                throw APIError.invalid("'response_format' type '\(type)' is not one of text, json_object, json_schema", param: "response_format")
            }
        }
    }
}

/// POST /v1/chat/completions.
struct ChatCompletionRequest {
    var messages: [(role: String, content: String)]
    var parameters: CompletionParameters

    init(_ f: RequestFields) throws {
        try f.rejectUnknown(known: CompletionParameters.known.union(["messages", "max_completion_tokens", "tools", "tool_choice",
                                                                     "top_logprobs"]),
                            ignored: ["metadata", "store", "service_tier", "parallel_tool_calls", "cache_prompt"])
        parameters = try CompletionParameters(f, maxTokensKeys: ["max_tokens", "max_completion_tokens"])
        let top = try f.integer("top_logprobs", in: 0...TokenLogprob.maxAlternatives)
        if try f.bool("logprobs") == true {
            parameters.logprobs = top ?? 0
        } else if top != nil {
            throw APIError.invalid("'top_logprobs' needs 'logprobs' set to true", param: "top_logprobs")
        }
        if let tools = f.raw("tools"), tools != .array([]) {
            throw APIError.invalid("'tools' are not supported by this server", param: "tools")
        }
        if let choice = f.raw("tool_choice"), choice.string != "none" {
            throw APIError.invalid("'tool_choice' must be none: this server runs no tools", param: "tool_choice")
        }
        guard case let .array(items)? = f.raw("messages"), !items.isEmpty else {
            throw APIError.invalid("'messages' must be a non-empty list of {role, content}", param: "messages")
        }
        messages = try items.enumerated().map { i, item in
            let param = "messages[\(i)]"
            guard case .object = item, let role = item["role"]?.string else {
                throw APIError.invalid("\(param) must be an object with a string 'role'", param: param)
            }
            guard ["system", "developer", "user", "assistant"].contains(role) else {
                throw APIError.invalid("\(param).role '\(role)' is not one of system, developer, user, assistant", param: "\(param).role")
            }
            return (role == "developer" ? "system" : role, try Self.content(item["content"], param: "\(param).content"))
        }
    }

    /// A message's content: a string, or a list of text parts.
    static func content(_ value: JSONValue?, param: String) throws -> String {
        switch value {
        case let .string(s)?: return s
        case .null?, nil: return ""
        case let .array(parts)?:
            return try parts.map { part in
                guard part["type"]?.string == "text", let text = part["text"]?.string else {
                    throw APIError.invalid("\(param) parts must be {\"type\": \"text\", \"text\": ...}: this server reads text only", param: param)
                }
                return text
            }.joined()
        default: throw APIError.invalid("\(param) must be a string or a list of text parts", param: param)
        }
    }
}

/// POST /v1/completions.
struct TextCompletionRequest {
    enum Prompt { case text(String), tokens([Int]) }
    var prompt: Prompt
    var parameters: CompletionParameters
    /// The reply starts with the prompt (and, with `logprobs`, its tokens' log-probabilities: how
    /// evaluation harnesses such as lm-evaluation-harness score a text).
    var echo: Bool

    init(_ f: RequestFields, vocabularySize: Int) throws {
        try f.rejectUnknown(known: CompletionParameters.known.union(["prompt", "echo", "suffix", "best_of"]), ignored: ["cache_prompt"])
        parameters = try CompletionParameters(f)
        if parameters.maxTokens == nil { parameters.maxTokens = 16 }  // OpenAI's default for completions
        // A count of alternatives here (OpenAI allows up to 5; this server, as in chat, 20); false: none.
        if f.raw("logprobs")?.boolean != false {
            parameters.logprobs = try f.integer("logprobs", in: 0...TokenLogprob.maxAlternatives)
        }
        echo = try f.bool("echo") ?? false
        if f.has("suffix") { throw APIError.invalid("'suffix' is not supported by this server", param: "suffix") }
        if let bestOf = f.raw("best_of"), bestOf.integer != 1 { throw APIError.invalid("'best_of' must be 1", param: "best_of") }
        switch f.raw("prompt") {
        case let .string(s)?: prompt = .text(s)
        case let .array(items)? where items.count == 1 && items[0].string != nil: prompt = .text(items[0].string!)
        case let .array(items)? where !items.isEmpty && items.allSatisfy({ $0.integer != nil }):
            prompt = .tokens(try Self.tokens(items, vocabularySize: vocabularySize))
        case let .array(items)? where items.count == 1 && items[0].array?.isEmpty == false:
            prompt = .tokens(try Self.tokens(items[0].array!, vocabularySize: vocabularySize))
        case let .array(items)? where items.count > 1 && items.allSatisfy({ $0.string != nil || $0.array != nil }):
            throw APIError.invalid("'prompt' holds \(items.count) prompts; this server takes one per request", param: "prompt")
        default:
            throw APIError.invalid("'prompt' must be a string, a list of token ids, or a list of one of those", param: "prompt")
        }
    }

    private static func tokens(_ items: [JSONValue], vocabularySize: Int) throws -> [Int] {
        let ids = items.compactMap(\.integer)
        guard ids.count == items.count, ids.allSatisfy({ $0 >= 0 && $0 < vocabularySize }) else {
            throw APIError.invalid("'prompt' token ids must be integers in 0..<\(vocabularySize)", param: "prompt")
        }
        return ids
    }
}
