import Foundation
import Hummingbird
import TernaryFormat
import TernaryGeneration
import TernaryModels
import TernaryTokenizer

/// The endpoints: OpenAI's (/v1/...), llama-server's (/health, /tokenize, /detokenize, /metrics)
/// and the chat page (/).
struct Routes: Sendable {
    let options: ServerOptions
    let state: ServerState

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: ChatPage.html)))
        }
        router.get("/health") { _, _ -> Response in
            if let message = state.loadFailure { throw APIError.server("The model failed to load: \(message)") }
            _ = try state.ready()
            return JSONResponse.make(.object([("status", .string("ok"))]))
        }
        router.get("/metrics") { _, _ -> Response in
            let text = state.metrics.render(state.current?.scheduler)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/v1/models") { request, _ -> Response in
            try authorize(request)
            let engine = try state.ready()
            return JSONResponse.make(.object([("object", .string("list")), ("data", .array([.object([
                ("id", .string(engine.name)), ("object", .string("model")), ("created", .int(engine.created)), ("owned_by", .string("ternary")),
                ("meta", .object([("n_ctx", .int(engine.scheduler.contextSize)), ("n_vocab", .int(engine.scheduler.model.vocabularySize)),
                                  ("architecture", .string(engine.scheduler.model.architecture)), ("slots", .int(engine.scheduler.slotCount))])),
            ])]))]))
        }
        router.post("/v1/chat/completions") { request, context in try await chatCompletion(request, context) }
        router.post("/v1/completions") { request, context in try await textCompletion(request, context) }
        router.post("/tokenize") { request, context -> Response in
            try authorize(request)
            let f = try await fields(request, context)
            try f.rejectUnknown(known: ["content", "add_special", "parse_special", "with_pieces"])
            let engine = try state.ready()
            guard let content = try f.string("content") else { throw APIError.invalid("'content' must be a string", param: "content") }
            let ids = engine.tokenizer.encode(content, addSpecialTokens: try f.bool("add_special") ?? false, parseSpecial: try f.bool("parse_special") ?? true)
            let tokens: [JSONValue] = try f.bool("with_pieces") == true
                ? ids.map { .object([("id", .int($0)), ("piece", .string(engine.tokenizer.piece($0) ?? ""))]) }
                : ids.map { .int($0) }
            return JSONResponse.make(.object([("tokens", .array(tokens))]))
        }
        router.post("/detokenize") { request, context -> Response in
            try authorize(request)
            let f = try await fields(request, context)
            try f.rejectUnknown(known: ["tokens"])
            let engine = try state.ready()
            guard case let .array(items)? = f.raw("tokens"), let ids = Optional(items.compactMap(\.integer)), ids.count == items.count,
                  ids.allSatisfy({ $0 >= 0 && $0 < engine.tokenizer.vocabularySize }) else {
                throw APIError.invalid("'tokens' must be a list of token ids in 0..<\(engine.tokenizer.vocabularySize)", param: "tokens")
            }
            return JSONResponse.make(.object([("content", .string(try engine.tokenizer.decode(ids)))]))
        }
    }

    // MARK: - Requests

    func authorize(_ request: Request) throws {
        guard let key = options.apiKey else { return }
        let given = request.headers[.authorization] ?? ""
        // Compare every byte whatever the first difference (no early exit to time).
        let expected = Array("Bearer \(key)".utf8), got = Array(given.utf8)
        var difference = expected.count ^ got.count
        for i in 0..<expected.count { difference |= Int(expected[i] ^ (i < got.count ? got[i] : 0)) }
        guard difference == 0 else { throw APIError.unauthorized() }
    }

    func fields(_ request: Request, _ context: BasicRequestContext) async throws -> RequestFields {
        let buffer = try await request.body.collect(upTo: options.maxBody)
        return try RequestFields(body: Array(buffer.readableBytesView))
    }

    func submit(_ engine: Engine, prompt: [Int], parameters: CompletionParameters, stop: [String], promptLogprobs: Int? = nil) throws -> GenerationHandle {
        let context = engine.scheduler.contextSize
        guard prompt.count < context else {
            throw APIError.invalid("This model's maximum context length is \(context) tokens (--ctx-size). However, your prompt is \(prompt.count) tokens; shorten it.",
                                   param: "messages", code: "context_length_exceeded")
        }
        let maxTokens = min(parameters.maxTokens ?? context, context - prompt.count)
        do {
            let handle = try engine.scheduler.submit(GenerationRequest(prompt: prompt, maxTokens: maxTokens, options: parameters.options,
                                                                       stopStrings: parameters.stop + stop,
                                                                       ignoreEndOfText: parameters.ignoreEndOfText,
                                                                       logprobs: parameters.logprobs, promptLogprobs: promptLogprobs,
                                                                       format: parameters.format))
            let deadline = options.timeout
            Task { [weak handle] in
                try? await Task.sleep(for: .seconds(deadline))
                handle?.cancel()
            }
            return handle
        } catch let error as SchedulerError {
            switch error {
            case .queueFull: throw APIError.unavailable(error.description, retryAfter: 1)
            case .shutDown: throw APIError.unavailable(error.description, retryAfter: 5)
            case .promptTooLong, .emptyPrompt: throw APIError.invalid(error.description, param: "messages")
            }
        } catch let error as GenerationError {
            throw APIError.invalid(error.description)
        }
    }

    func chatCompletion(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request)
        let chat = try ChatCompletionRequest(try await fields(request, context))
        let engine = try state.ready()
        let messages = chat.messages.map { ChatMessage(role: $0.role, content: $0.content) }
        let prompt: [Int]
        do { prompt = try engine.template.prompt(messages, tokenizer: engine.tokenizer).ids } catch {
            throw APIError.invalid("The messages cannot be rendered with the \(engine.template.rawValue) chat template: \(error)", param: "messages")
        }
        let handle = try submit(engine, prompt: prompt, parameters: chat.parameters, stop: engine.template.stopStrings)
        let reply = CompletionReply(kind: .chat, model: engine.name, includeUsage: chat.parameters.includeUsage,
                                    logprobs: chat.parameters.logprobs.map { _ in LogprobReply(tokenizer: engine.tokenizer) })
        return chat.parameters.stream ? reply.stream(handle, metrics: state.metrics) : try await reply.whole(handle, metrics: state.metrics)
    }

    func textCompletion(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request)
        let f = try await fields(request, context)
        let engine = try state.ready()
        let completion = try TextCompletionRequest(f, vocabularySize: engine.tokenizer.vocabularySize)
        let prompt: [Int]
        switch completion.prompt {
        case let .text(text): prompt = engine.tokenizer.encode(text)
        case let .tokens(ids): prompt = ids
        }
        guard !prompt.isEmpty else { throw APIError.invalid("'prompt' is empty and the model adds no start token; give some text", param: "prompt") }
        let handle = try submit(engine, prompt: prompt, parameters: completion.parameters, stop: [],
                                promptLogprobs: completion.echo ? completion.parameters.logprobs : nil)
        var echo: CompletionReply.Echo?
        if completion.echo {
            switch completion.prompt {
            case let .text(text): echo = .init(text: text, firstToken: prompt[0], tokenCount: prompt.count)
            case let .tokens(ids): echo = .init(text: (try? engine.tokenizer.decode(ids)) ?? "", firstToken: ids[0], tokenCount: ids.count)
            }
        }
        let reply = CompletionReply(kind: .text, model: engine.name, includeUsage: completion.parameters.includeUsage,
                                    logprobs: completion.parameters.logprobs.map { _ in LogprobReply(tokenizer: engine.tokenizer) }, echo: echo)
        return completion.parameters.stream ? reply.stream(handle, metrics: state.metrics) : try await reply.whole(handle, metrics: state.metrics)
    }
}
