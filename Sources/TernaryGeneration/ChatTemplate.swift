/// One message of a conversation (OpenAI's and Hugging Face's shape).
public struct ChatMessage: Sendable, Equatable {
    /// "system", "user" or "assistant".
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

import TernaryTokenizer

/// How a model wants a conversation written: the turn formats this engine renders itself, without
/// a Jinja interpreter (as llama.cpp does), detected from the model's Jinja template. Each renders
/// what the Hugging Face template renders (checked against transformers' apply_chat_template).
public enum ChatTemplate: String, CaseIterable, Sendable {
    /// Llama 3: `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`.
    case llama3
    /// BitNet b1.58 2B4T: `User: content<|eot_id|>Assistant: `.
    case bitnet
    /// ChatML: `<|im_start|>role\ncontent<|im_end|>\n`.
    case chatml
    /// Llama 2 chat: `<s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s>`.
    case llama2
    /// Mistral v1: `<s>[INST] user [/INST]answer</s>` (a system message opens the first user turn).
    case mistral
    /// Plain speaker lines, `You:\n…\n\nROMEO:\n…`, for base models without a template (the shipped
    /// Shakespeare model); a reply ends at a blank line.
    case speakers

    public enum Failure: Error, CustomStringConvertible {
        case alternation(template: ChatTemplate)
        case unknownName(String)
        case unknownTemplate

        public var description: String {
            let names = ChatTemplate.allCases.map(\.rawValue).joined(separator: ", ")
            switch self {
            case let .alternation(template): return "the \(template) chat template needs user and assistant turns to alternate, starting with the user"
            case let .unknownName(name): return "--chat-template \(name) is unknown: expected one of \(names)"
            case .unknownTemplate: return "the model's chat template is not one this engine renders; pass --chat-template with one of \(names)"
            }
        }
    }

    /// The template named `name` if given, else the one the tokenizer's Jinja template writes, else
    /// (no template) the speaker-line format.
    public static func resolve(name: String?, tokenizer: any Tokenizer) throws -> ChatTemplate {
        if let name {
            guard let template = ChatTemplate(rawValue: name) else { throw Failure.unknownName(name) }
            return template
        }
        guard let jinja = tokenizer.chatTemplate else { return .speakers }
        guard let template = detect(jinja: jinja) else { throw Failure.unknownTemplate }
        return template
    }

    /// The conversation's text and token ids, ending with the start of the assistant's turn: the
    /// tokenizer's BOS/EOS texts where the template writes them, BOS added by the tokenizer unless
    /// the text starts with it, special-token text parsed.
    public func prompt(_ messages: [ChatMessage], tokenizer: any Tokenizer,
                       speakers: (user: String, assistant: String) = ("You", "ROMEO")) throws -> (text: String, ids: [Int]) {
        let bos = tokenizer.bos.flatMap { tokenizer.piece($0) } ?? ""
        let eos = tokenizer.eos.flatMap { tokenizer.piece($0) } ?? ""
        let text = try render(messages, addGenerationPrompt: true, bos: bos, eos: eos, speakers: speakers)
        return (text, tokenizer.encode(text, addSpecialTokens: bos.isEmpty || !text.hasPrefix(bos), parseSpecial: self != .speakers))
    }

    /// The format a Jinja chat template writes, from the markers it contains (nil: not one of these).
    public static func detect(jinja: String) -> ChatTemplate? {
        if jinja.contains("<|im_start|>") { return .chatml }
        if jinja.contains("[INST]") { return jinja.contains("<<SYS>>") ? .llama2 : .mistral }
        if jinja.contains("<|start_header_id|>") && jinja.contains("<|end_header_id|>") { return .llama3 }
        if jinja.contains("<|eot_id|>") && jinja.contains("Assistant: ") { return .bitnet }
        return nil
    }

    /// Text that ends a reply besides the tokenizer's end-of-turn tokens.
    public var stopStrings: [String] { self == .speakers ? ["\n\n"] : [] }

    /// The conversation as the model reads it, ending with the start of the assistant's turn when
    /// `addGenerationPrompt`. `bos`/`eos` are the tokenizer's texts of those tokens (templates that
    /// write them in the text); `speakers` names the speaker-line format's two voices.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool, bos: String = "", eos: String = "",
                       speakers: (user: String, assistant: String) = ("You", "ROMEO")) throws -> String {
        var out = ""
        switch self {
        case .llama3:
            out = bos
            for m in messages { out += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(Self.trim(m.content))<|eot_id|>" }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        case .bitnet:
            for m in messages { out += "\(Self.capitalize(m.role)): \(Self.trim(m.content))<|eot_id|>" }
            if addGenerationPrompt { out += "Assistant: " }
        case .chatml:
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .llama2, .mistral:
            var turns = messages
            var system: String?
            if turns.first?.role == "system" { system = turns.removeFirst().content }
            for (i, m) in turns.enumerated() {
                guard (m.role == "user") == (i % 2 == 0), m.role == "user" || m.role == "assistant" else { throw Failure.alternation(template: self) }
                var content = m.content
                if i == 0, let system {
                    content = self == .llama2 ? "<<SYS>>\n\(system)\n<</SYS>>\n\n\(content)" : "\(system)\n\n\(content)"
                }
                if self == .llama2 {
                    out += m.role == "user" ? "\(bos)[INST] \(Self.trim(content)) [/INST]" : " \(Self.trim(content)) \(eos)"
                } else {
                    if i == 0 { out += bos }
                    out += m.role == "user" ? "[INST] \(content) [/INST]" : "\(content)\(eos)"
                }
            }
        case .speakers:
            var parts: [String] = []
            for m in messages {
                switch m.role {
                case "system": parts.append(m.content)
                case "assistant": parts.append("\(speakers.assistant):\n\(m.content)")
                default: parts.append("\(speakers.user):\n\(m.content)")
                }
            }
            out = parts.joined(separator: "\n\n")
            if addGenerationPrompt { out += (out.isEmpty ? "" : "\n\n") + "\(speakers.assistant):\n" }
        }
        return out
    }

    /// Jinja's `trim`: whitespace off both ends.
    static func trim(_ s: String) -> String {
        var view = Substring(s)
        while let c = view.first, c.isWhitespace { view.removeFirst() }
        while let c = view.last, c.isWhitespace { view.removeLast() }
        return String(view)
    }

    /// Jinja's `capitalize`: the first character upper case, the rest lower.
    static func capitalize(_ s: String) -> String {
        guard let first = s.first else { return s }
        return first.uppercased() + s.dropFirst().lowercased()
    }
}
