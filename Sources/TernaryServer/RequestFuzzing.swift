import TernaryFormat
import TernaryGeneration
import TernaryTokenizer

/// The server's request decoding as the fuzzers drive it (`openai-request` in TernaryFuzzTargets):
/// a body is read as a chat and as a text completion request. What a client can send must end in
/// one of two ways: a 400 in OpenAI's shape with a message, or a request whose sampling options the
/// scheduler accepts and whose messages render with the chat template (or a 400 saying why not).
public enum RequestFuzzing {
    /// Nil when the body was handled as described; otherwise what went wrong.
    public static func violation(body: [UInt8], tokenizer: any Tokenizer, template: ChatTemplate) -> String? {
        func rejected(_ error: Error) -> String? {
            guard let api = error as? APIError else { return "a non-API error escaped: \(error)" }
            guard api.status == .badRequest, !api.message.isEmpty else { return "rejected with \(api.status) '\(api.message)'" }
            return nil
        }
        let fields: RequestFields
        do { fields = try RequestFields(body: body) } catch { return rejected(error) }
        do {
            let chat = try ChatCompletionRequest(fields)
            do { try chat.parameters.options.validate() } catch { return "an accepted chat request has bad options: \(error)" }
            if let n = chat.parameters.logprobs, !(0...TokenLogprob.maxAlternatives).contains(n) {
                return "an accepted chat request asks for \(n) log-probability alternatives"
            }
            let messages = chat.messages.map { ChatMessage(role: $0.role, content: $0.content) }
            _ = try? template.prompt(messages, tokenizer: tokenizer)  // the route turns a failure into a 400
            if let problem = checkFormat(chat.parameters.format, texts: [body] + chat.messages.map { Array($0.content.utf8) }) {
                return problem
            }
        } catch {
            if let problem = rejected(error) { return problem }
        }
        do {
            let text = try TextCompletionRequest(fields, vocabularySize: tokenizer.vocabularySize)
            do { try text.parameters.options.validate() } catch { return "an accepted text request has bad options: \(error)" }
            if let n = text.parameters.logprobs, !(0...TokenLogprob.maxAlternatives).contains(n) {
                return "an accepted text request asks for \(n) log-probability alternatives"
            }
            if case let .text(prompt) = text.prompt {
                _ = tokenizer.encode(prompt)
                if let problem = checkFormat(text.parameters.format, texts: [body, Array(prompt.utf8)]) { return problem }
            }
        } catch {
            if let problem = rejected(error) { return problem }
        }
        return nil
    }

    /// An accepted output format's checker runs over arbitrary texts (the body, the messages) byte
    /// by byte, to the end or its first refusal. It must not trap, and a text it takes whole must
    /// be JSON (an object, for JSON mode) as the strict parser reads it.
    static func checkFormat(_ format: OutputFormat, texts: [[UInt8]]) -> String? {
        func run<Checker: ByteChecker>(_ start: Checker, objectsOnly: Bool) -> String? {
            for text in texts {
                var checker = start
                guard checker.consume(text), checker.isComplete else { continue }
                guard let value = try? JSONParser().parse(text) else {
                    return "the format checker took a text that is not JSON: \(String(decoding: text.prefix(200), as: UTF8.self))"
                }
                if objectsOnly, case .object = value {} else if objectsOnly { return "JSON mode took a text that is not an object" }
            }
            return nil
        }
        switch format {
        case .text: return nil
        case .jsonObject: return run(JSONPrefix(), objectsOnly: true)
        case let .jsonSchema(schema): return run(JSONSchemaPrefix(schema: schema), objectsOnly: false)
        }
    }
}
