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

    @Argument(help: "A Hugging Face model directory (config.json + model.safetensors, or a sharded index), or a llama2.c checkpoint (.bin, with --tokenizer tokenizer.bin).")
    var directory: String

    @Option(name: .shortAndLong, help: "Output file.")
    var output: String

    @Option(help: "How token embeddings and the LM head are stored: \(WeightFormat.allCases.map(\.rawValue).joined(separator: ", ")). Default: f16, or q4 for a GGUF whose embeddings are Q4_0 (the same blocks).")
    var embeddings: String?

    @Option(help: "How linear layers are stored: ternary (2 bits per weight) or t1.6 (base 3, 1.6 bits per weight; rows padded to 320), quantized at pack time unless already ternary; or \(WeightFormat.allCases.filter { !$0.isTernary }.map(\.rawValue).joined(separator: ", ")) to keep them dense.")
    var weights: String = "ternary"

    @Option(help: "Tokenizer, when the model has none (a directory with tokenizer.json, vocab.json + merges.txt or encoder.json + vocab.bpe; or a tokenizer.json, GGUF or llama2.c tokenizer.bin file).")
    var tokenizer: String?

    @Flag(help: "Pack without a tokenizer (the model then runs on token ids only).")
    var noTokenizer = false

    @Flag(help: "Read a BitNet checkpoint whose quantization_config says linear_class 'bitlinear': transformers' legacy BitLinear, whose weight_scale divides the outputs.")
    var legacyBitlinear = false

    func validate() throws {
        if let embeddings { _ = try formatOption("--embeddings", embeddings) }
        _ = try formatOption("--weights", weights)
    }

    func run() throws {
        var options = PackOptions()
        if let embeddings {
            options.embeddings = try formatOption("--embeddings", embeddings)
        } else if GGUFFile.isGGUF(path: directory) {
            options.embeddings = ModelLoader.embeddingsFormat(try GGUFFile(path: directory))
        }
        options.weights = try formatOption("--weights", weights)
        options.tokenizerDirectory = tokenizer
        options.withoutTokenizer = noTokenizer
        options.legacyBitLinear = legacyBitlinear
        var bar = ProgressBar(label: "packing")
        let report = try Packer.pack(input: directory, output: output, options: options) { done, total, note in
            bar.update(done, total, note)
        }
        print("\(directory) (\(formatBytes(report.inputBytes))) → \(output) (\(formatBytes(report.outputBytes))), \(report.ratio.fixed(1))× smaller")
    }
}
