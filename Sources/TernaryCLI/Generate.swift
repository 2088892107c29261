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

/// Sampling flags shared by `generate` and `chat`.
struct SamplingFlags: ParsableArguments {
    @Option(help: "Temperature; 0 = greedy.") var temperature: Float = 0.8
    @Option(help: "Keep the k most likely tokens (0 = off).") var topK: Int = 40
    @Option(help: "Nucleus sampling mass (1 = off).") var topP: Float = 0.95
    @Option(help: "Drop tokens below this fraction of the top probability (0 = off).") var minP: Float = 0.05
    @Option(name: .customLong("repeat-penalty"), help: "Repetition penalty (1 = off; default 1.1 when sampling, off with --temperature 0, which takes the most likely token).")
    var repeatPenalty: Float?
    @Option(name: .customLong("repeat-last-n"), help: "Tokens the repetition penalty looks back over.") var repeatLastN: Int = 64
    @Option(help: "Random seed (same seed, same text).") var seed: UInt64 = 0

    var options: SamplingOptions {
        var o = SamplingOptions()
        o.temperature = temperature
        o.topK = topK
        o.topP = topP
        o.minP = minP
        o.repetitionPenalty = repeatPenalty ?? (temperature == 0 ? 1 : 1.1)
        o.repetitionWindow = repeatLastN
        o.seed = seed
        return o
    }

    func validate() throws {
        do { try options.validate() } catch let error as GenerationError { throw ValidationError(error.description) }
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Continue a prompt, streaming the text.")

    @Argument(help: "The prompt.") var prompt: String
    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingFlags
    @Option(name: .short, help: "Maximum new tokens.") var n: Int = 128
    @Option(name: .customLong("stop"), help: "Stop when this text appears (repeatable).") var stops: [String] = []
    @Flag(help: "Treat special-token text in the prompt (<|endoftext|>, <|eot_id|>) as plain text.") var noSpecial = false
    @Flag(help: "Do not print the stats line.") var quiet = false

    func validate() throws {
        guard n >= 0, n <= 1_000_000 else { throw ValidationError("-n \(n) is invalid: expected 0...1000000") }
    }

    func run() throws {
        let generator = try model.generator()
        let ids = generator.tokenizer.encode(prompt, addSpecialTokens: true, parseSpecial: !noSpecial)
        print(prompt, terminator: "")
        fflush(stdout)
        let (_, stats) = try generator.generate(promptIDs: ids, maxTokens: n, options: sampling.options, stopStrings: stops) { text in
            print(text, terminator: "")
            fflush(stdout)
            return true
        }
        print("")
        if !quiet { printError(stats.summary) }
    }
}
