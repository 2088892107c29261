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
import TernaryConvert
import TernaryFormat

struct Pack: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pack a Hugging Face checkpoint into one ternary .safetensors file.")

    @Argument(help: "Hugging Face model directory (config.json + model.safetensors, or a sharded index).")
    var directory: String

    @Option(name: .shortAndLong, help: "Output file.")
    var output: String

    @Option(help: "Embedding storage: f32, f16, int8 or ternary.")
    var embeddings: String = "f16"

    @Option(help: "Tokenizer directory, when the model directory has none (vocab.json + merges.txt, encoder.json + vocab.bpe, or tokenizer.json).")
    var tokenizer: String?

    @Flag(help: "Pack without a tokenizer (the model then runs on token ids only).")
    var noTokenizer = false

    func validate() throws {
        guard EmbeddingStorage(rawValue: embeddings) != nil else {
            throw ValidationError("--embeddings \(embeddings) is unknown: expected f32, f16, int8 or ternary")
        }
    }

    func run() throws {
        var options = PackOptions()
        options.embeddings = EmbeddingStorage(rawValue: embeddings)!
        options.tokenizerDirectory = tokenizer
        options.withoutTokenizer = noTokenizer
        var bar = ProgressBar(label: "packing")
        let report = try Packer.pack(directory: directory, output: output, options: options) { done, total, note in
            bar.update(done, total, note)
        }
        print("\(directory) (\(formatBytes(report.inputBytes))) → \(output) (\(formatBytes(report.outputBytes))), \(report.ratio.fixed(1))× smaller")
    }
}
