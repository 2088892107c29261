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
import TernaryFormat
import TernaryGeneration
import TernaryModels

/// Sampling flags shared by `generate` and `chat`.
struct SamplingFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: "Temperature; 0 = greedy.") var temperature: Float = 0.8
    @Option(parsing: .unconditional, help: "Keep the k most likely tokens (0 = off).") var topK: Int = 40
    @Option(parsing: .unconditional, help: "Nucleus sampling mass (1 = off).") var topP: Float = 0.95
    @Option(parsing: .unconditional, help: "Drop tokens below this fraction of the top probability (0 = off).") var minP: Float = 0.05
    @Option(name: .customLong("repeat-penalty"), parsing: .unconditional, help: "Repetition penalty (1 = off; default 1.1 when sampling, off with --temperature 0, which takes the most likely token).")
    var repeatPenalty: Float?
    @Option(name: .customLong("repeat-last-n"), parsing: .unconditional, help: "Tokens the repetition penalty looks back over.") var repeatLastN: Int = 64
    @Option(parsing: .unconditional, help: "Random seed, 0…2^64−1 (same seed, same text).") var seed: String = "0"

    var options: SamplingOptions {
        var o = SamplingOptions()
        o.temperature = temperature
        o.topK = topK
        o.topP = topP
        o.minP = minP
        o.repetitionPenalty = repeatPenalty ?? (temperature == 0 ? 1 : 1.1)
        o.repetitionWindow = repeatLastN
        o.seed = UInt64(seed) ?? 0
        return o
    }

    func validate() throws {
        guard UInt64(seed) != nil else { throw ValidationError("--seed \(seed) is invalid: expected a whole number from 0 to 18446744073709551615") }
        do { try options.validate() } catch let error as GenerationError { throw ValidationError(error.description) }
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Continue a prompt, streaming the text.")

    @Argument(help: "The prompt (or give it with --file).") var prompt: String?
    @Option(help: "Read the prompt from this file (\"-\": standard input).") var file: String?
    @Flag(help: "Replace bytes of the prompt file that are not UTF-8 with U+FFFD instead of refusing it.") var lossy = false
    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingFlags
    @Option(name: .short, parsing: .unconditional, help: "Maximum new tokens.") var n: Int = 128
    @Option(name: .customLong("stop"), help: "Stop when this text appears (repeatable).") var stops: [String] = []
    @Flag(help: "Treat special-token text in the prompt (<|endoftext|>, <|eot_id|>) as plain text.") var noSpecial = false
    @Flag(help: "JSON mode: only tokens that keep the text the start of one JSON object are picked; the text ends when it closes.")
    var json = false
    @Option(name: .customLong("json-schema"), help: "Structured output: the text is one JSON value this schema accepts (the schema as JSON, or a file holding it; README lists the keywords).")
    var jsonSchema: String?
    @Flag(help: "Do not print the stats line.") var quiet = false

    func validate() throws {
        guard n >= 0, n <= 1_000_000 else { throw ValidationError("-n \(n) is invalid: expected 0...1000000") }
        guard (prompt == nil) != (file == nil) else { throw ValidationError("give the prompt as an argument or with --file, not both") }
        guard !(json && jsonSchema != nil) else { throw ValidationError("give --json or --json-schema, not both") }
    }

    func run() throws {
        let prompt = try file.map { try readTextFile($0, lossy: lossy) } ?? self.prompt!
        var format = json ? OutputFormat.jsonObject : .text
        if let jsonSchema { format = .jsonSchema(try loadSchema(jsonSchema)) }
        let generator = try model.generator()
        let ids = generator.tokenizer.encode(prompt, addSpecialTokens: true, parseSpecial: !noSpecial)
        print(prompt, terminator: "")
        fflush(stdout)
        let (_, stats) = try generator.generate(promptIDs: ids, maxTokens: n, options: sampling.options, stopStrings: stops,
                                                 format: format) { text in
            print(text, terminator: "")
            fflush(stdout)
            return true
        }
        print("")
        if !quiet { printError(stats.summary) }
    }
}

/// `--json-schema`: the schema itself (text starting with `{`) or a file holding it.
func loadSchema(_ argument: String) throws -> JSONSchema {
    let text = argument.trimmingCharacters(in: .whitespaces).hasPrefix("{") ? argument : try readTextFile(argument, lossy: false)
    let value: JSONValue
    do { value = try JSONParser().parse(Array(text.utf8)) } catch {
        throw ValidationError("--json-schema: the schema is not valid JSON: \(error)")
    }
    do { return try JSONSchema(value) } catch let error as JSONSchema.CompileError {
        throw ValidationError("--json-schema: \(error)")
    }
}
