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
        abstract: "Talk to a model, turn by turn. Ctrl-C ends the current reply; Ctrl-D or /quit leaves; /reset forgets.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingFlags
    @Option(name: .short, help: "Maximum tokens per reply.") var n: Int = 200
    @Option(help: "Speaker name for your lines.") var user: String = "You"
    @Option(help: "Speaker name for the model's lines.") var bot: String = "ROMEO"
    @Option(help: "Text placed before the first turn.") var system: String = ""

    func validate() throws {
        guard n >= 1, n <= 100_000 else { throw ValidationError("-n \(n) is invalid: expected 1...100000") }
    }

    func run() throws {
        let generator = try model.generator()
        let lm = generator.model
        let tokenizer = generator.tokenizer
        signal(SIGINT) { _ in
            if replyInProgress != 0 { interruptRequested = 1 } else { _exit(130) }
        }
        // A parent may have started us with SIGINT blocked (Foundation's Process does); unblock it.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        let interactive = isatty(STDIN_FILENO) != 0
        var memory = generator.makeMemory()
        var transcript: [Int] = tokenizer.encode(system, addSpecialTokens: false, parseSpecial: false)
        var pending = transcript  // tokens not yet fed to the model
        var options = sampling.options
        if interactive { printError("chatting with \(URL(fileURLWithPath: lm.file.path).lastPathComponent) — Ctrl-C ends a reply, Ctrl-D quits") }
        while true {
            if interactive { print("\(user)> ", terminator: "") }
            fflush(stdout)
            guard let line = readLine(strippingNewline: true) else { break }
            if line == "/quit" { break }
            if line == "/reset" {
                memory = generator.makeMemory()
                transcript = tokenizer.encode(system, addSpecialTokens: false, parseSpecial: false)
                pending = transcript
                continue
            }
            let turn = tokenizer.encode("\(transcript.isEmpty ? "" : "\n\n")\(user):\n\(line)\n\n\(bot):\n", addSpecialTokens: false, parseSpecial: false)
            transcript += turn
            pending += turn
            // Keep the conversation inside the context: restart from the most recent tokens.
            if memory.length + pending.count + n > memory.capacity {
                let keep = max(1, memory.capacity - n - 1)
                transcript = Array(transcript.suffix(keep))
                pending = transcript
                memory = generator.makeMemory()
            }
            print("\(bot): ", terminator: "")
            fflush(stdout)
            replyInProgress = 1
            interruptRequested = 0
            let (ids, stats) = try generator.generate(
                promptIDs: pending, maxTokens: n, options: options, stopStrings: ["\n\n"], memory: memory
            ) { text in
                print(text, terminator: "")
                fflush(stdout)
                return interruptRequested == 0
            }
            replyInProgress = 0
            if interruptRequested != 0 { print(" [interrupted]", terminator: "") }
            print("")
            // The reply's tokens are in the transcript; the last sampled token was not fed yet.
            transcript += ids
            pending = ids.isEmpty ? [] : [ids.last!]
            if stats.stopReason == "eos" { pending = [] }
            options.seed &+= 1
        }
    }
}
