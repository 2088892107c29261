import ArgumentParser
import TernaryConvert
import TernaryFormat
import TernaryTokenizer

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a packed file with a real architecture's shapes and random weights (for benchmarks).")

    @Option(help: "Shape preset: \(Synthesizer.presets.map(\.name).joined(separator: ", ")).") var preset: String
    @Option(name: .shortAndLong, help: "Output file.") var output: String
    @Option(help: "How token embeddings and the LM head are stored: \(WeightFormat.allCases.map(\.rawValue).joined(separator: ", ")).") var embeddings: String = "ternary"
    @Option(help: "How linear layers are stored: \(WeightFormat.allCases.map(\.rawValue).joined(separator: ", ")).") var weights: String = "ternary"
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Embed this tokenizer (a directory or a tokenizer.json, GGUF or llama2.c tokenizer file), so the file can run on text.") var tokenizer: String?

    func validate() throws {
        _ = try formatOption("--embeddings", embeddings)
        _ = try formatOption("--weights", weights)
    }

    func run() throws {
        let p = try Synthesizer.preset(named: preset)
        var bar = ProgressBar(label: "synth \(p.name)")
        let bpe = try tokenizer.map { try TokenizerLoader.spec(path: $0) }
        try Synthesizer.write(preset: p, embeddings: try formatOption("--embeddings", embeddings), weights: try formatOption("--weights", weights),
                              seed: seed, output: output, tokenizer: bpe) { done, total, note in
            bar.update(done, total, note)
        }
        print("wrote \(output)")
    }
}
