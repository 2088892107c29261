import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TernaryGeneration
import TernaryModels

/// Set by SIGINT while a reply is streaming; the reply ends, the program does not.
nonisolated(unsafe) private var interruptRequested: sig_atomic_t = 0
nonisolated(unsafe) private var replyInProgress: sig_atomic_t = 0

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk to a model, turn by turn, in its chat format. Ctrl-C ends the current reply; Ctrl-D or /quit leaves; /reset forgets.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingFlags
    @Option(name: .short, parsing: .unconditional, help: "Maximum tokens per reply.") var n: Int = 200
    @Option(name: .customLong("chat-template"), help: "Turn format: \(ChatTemplate.allCases.map(\.rawValue).joined(separator: ", ")) (default: the one the model's template names; speakers for models without one).")
    var chatTemplate: String?
    @Option(help: "Speaker name for your lines (speakers format).") var user: String = "You"
    @Option(help: "Speaker name for the model's lines (speakers format).") var bot: String = "ROMEO"
    @Option(help: "System message (or, in the speakers format, text before the first turn).") var system: String = ""
    @Flag(help: "JSON mode: each reply is one JSON object, and ends when it closes.") var json = false
    @Option(name: .customLong("json-schema"), help: "Structured output: each reply is one JSON value this schema accepts (the schema as JSON, or a file holding it).")
    var jsonSchema: String?

    func validate() throws {
        guard n >= 1, n <= 100_000 else { throw ValidationError("-n \(n) is invalid: expected 1...100000") }
        guard !(json && jsonSchema != nil) else { throw ValidationError("give --json or --json-schema, not both") }
        if let chatTemplate, ChatTemplate(rawValue: chatTemplate) == nil {
            throw ValidationError(ChatTemplate.Failure.unknownName(chatTemplate).description)
        }
    }

    func run() throws {
        let format = try jsonSchema.map { OutputFormat.jsonSchema(try loadSchema($0)) } ?? (json ? .jsonObject : .text)
        let generator = try model.generator()
        let template = try ChatTemplate.resolve(name: chatTemplate, tokenizer: generator.tokenizer)
        let session = ChatSession(generator: generator, template: template, system: system, options: sampling.options, speakers: (user, bot), format: format)
        let label = template == .speakers ? bot : "assistant"
        signal(SIGINT) { _ in
            if replyInProgress != 0 { interruptRequested = 1 } else { _exit(130) }
        }
        let interactive = isatty(STDIN_FILENO) != 0
        if interactive {
            printError("chatting with \(URL(fileURLWithPath: generator.model.file.path).lastPathComponent) (\(template.rawValue) format) — Ctrl-C ends a reply, Ctrl-D quits")
        }
        while true {
            if interactive { print("\(user)> ", terminator: "") }
            fflush(stdout)
            guard let line = readLine(strippingNewline: true) else { break }
            if line == "/quit" { break }
            if line == "/reset" {
                session.reset()
                continue
            }
            print("\(label): ", terminator: "")
            fflush(stdout)
            replyInProgress = 1
            interruptRequested = 0
            try session.respond(to: line, maxTokens: n) { text in
                print(text, terminator: "")
                fflush(stdout)
                return interruptRequested == 0
            }
            replyInProgress = 0
            if interruptRequested != 0 { print(" [interrupted]", terminator: "") }
            print("")
        }
    }
}
