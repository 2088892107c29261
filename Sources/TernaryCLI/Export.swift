import ArgumentParser
import TernaryConvert
import TernaryFormat

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a packed model to GGUF for llama.cpp (gpt2, llama, bitnet) or bitnet.cpp (bitnet-b1.58).",
        discussion: """
            Ternary matrices keep their codes: TQ2_0 (2.06 bits per weight) or TQ1_0 (1.69), one \
            256-weight block at a time with the scale as float16. Like llama-quantize, a matrix whose \
            rows are not whole 256-weight blocks is written as Q8_0 holding the same ternary values \
            (or F16); embeddings and the head are F16, norms and biases F32.
            """)

    @Option(name: .shortAndLong, help: "Packed model file (default: the shipped model).")
    var model: String?

    @Option(help: "Ternary GGUF type: tq2_0 or tq1_0.")
    var gguf: String = "tq2_0"

    @Option(name: .shortAndLong, help: "Output .gguf file.")
    var output: String

    @Flag(help: "Leave the tokenizer out (llama.cpp then cannot run the file on text).")
    var noTokenizer = false

    func validate() throws {
        guard ["tq2_0", "tq1_0"].contains(gguf.lowercased()) else { throw ValidationError("--gguf \(gguf) is invalid: expected tq2_0 or tq1_0") }
    }

    func run() throws {
        guard let path = model ?? DefaultModel.locate() else { throw ValidationError("no model given: pass -m FILE") }
        let type: GGUFTensorType = gguf.lowercased() == "tq1_0" ? .tq1_0 : .tq2_0
        let report = try GGUFExporter.export(packed: path, output: output, ternary: type, withTokenizer: !noTokenizer)
        print("\(path) → \(output) (\(formatBytes(report.bytes))): GGUF \(report.architecture), \(report.tensors) tensors, ternary as \(type.name)")
        if !report.fallbacks.isEmpty {
            let byType = Dictionary(grouping: report.fallbacks, by: \.type)
            for (t, list) in byType.sorted(by: { $0.key < $1.key }) {
                print("  \(list.count) matrices as \(t) (rows not whole 256-weight blocks), e.g. \(list[0].tensor)")
            }
        }
    }
}
