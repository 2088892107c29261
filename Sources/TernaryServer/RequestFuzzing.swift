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
        } catch {
            if let problem = rejected(error) { return problem }
        }
        do {
            let text = try TextCompletionRequest(fields, vocabularySize: tokenizer.vocabularySize)
            do { try text.parameters.options.validate() } catch { return "an accepted text request has bad options: \(error)" }
            if let n = text.parameters.logprobs, !(0...TokenLogprob.maxAlternatives).contains(n) {
                return "an accepted text request asks for \(n) log-probability alternatives"
            }
            if case let .text(prompt) = text.prompt { _ = tokenizer.encode(prompt) }
        } catch {
            if let problem = rejected(error) { return problem }
        }
        return nil
    }
}
