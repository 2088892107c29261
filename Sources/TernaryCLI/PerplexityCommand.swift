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

struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a text file over non-overlapping chunks of --ctx tokens.")

    @OptionGroup var model: ModelOptions
    @Option(help: "Text file to score (\"-\": standard input).") var file: String
    @Flag(help: "Replace bytes that are not UTF-8 with U+FFFD instead of refusing the file.") var lossy = false
    @Option(parsing: .unconditional, help: "Chunk length in tokens (default 512, at most the model's context).") var ctx: Int?
    @Option(name: .customLong("max-tokens"), parsing: .unconditional, help: "Use only the first M tokens of the file.") var maxTokens: Int?
    @Flag(help: "Print {\"ppl\":…,\"tokens_scored\":…} only.") var json = false

    func validate() throws {
        if let ctx, ctx < 2 { throw ValidationError("--ctx \(ctx) is invalid: expected at least 2") }
        if let maxTokens, maxTokens < 2 { throw ValidationError("--max-tokens \(maxTokens) is invalid: expected at least 2") }
    }

    func run() throws {
        let text = try readTextFile(file, lossy: lossy)
        let lm = try model.load()
        guard let tokenizer = lm.tokenizer else { throw ModelError.noTokenizer(path: try model.resolvedPath()) }
        var tokens = tokenizer.encode(text, addSpecialTokens: false, parseSpecial: false)
        if let maxTokens, tokens.count > maxTokens { tokens.removeLast(tokens.count - maxTokens) }
        let chunk = ctx ?? min(512, lm.contextLength)
        var bar = ProgressBar(label: "perplexity")
        let result = try PerplexityEvaluator.evaluate(
            model: lm, context: model.context(), memoryOptions: model.memoryOptions, tokens: tokens, contextSize: chunk
        ) { done, total in
            if !json { bar.update(done, total, "chunks") }
        }
        if json {
            print("{\"ppl\":\(result.perplexity),\"tokens_scored\":\(result.tokensScored)}")
        } else {
            print("\(result.chunks) chunks of \(chunk) tokens, \(result.tokensScored) predictions")
            print("PPL = \(result.perplexity.fixed(4)) +/- \(result.standardError.fixed(4))")
        }
    }
}
