import ArgumentParser
import Foundation
import TernaryFormat

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a packed file's format version, config and tensors.")

    @Argument(help: "Packed model file.")
    var file: String

    func run() throws {
        let packed = try PackedModelFile(path: file)
        let st = packed.file
        print("file:           \(file) (\(formatBytes(st.fileSize)))")
        print("format:         \(PackedModelFile.formatName) v\(try st.requireMetadata("format_version"))")
        print("architecture:   \(packed.architecture)")
        print("config:         \(try st.requireMetadata("config"))")
        print("quantization:   \(try st.requireMetadata("quantization"))")
        if let vocab = try packed.tokenizer() {
            print("tokenizer:      \(st.metadata["tokenizer.model"] ?? "bpe"), \(vocab.vocabularySize) tokens, \(vocab.merges.count) merges")
        } else {
            print("tokenizer:      none")
        }
        print("tensors:        \(st.tensorNames.count)")
        let nameWidth = max(4, st.tensorNames.map(\.count).max() ?? 0)
        print("  " + "name".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  dtype  shape                 bytes")
        for name in st.tensorNames {
            let t = st.tensors[name]!
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            print("  " + name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                  + t.dtype.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0) + "  "
                  + shape.padding(toLength: 20, withPad: " ", startingAt: 0) + "  \(t.data.count)")
        }
    }
}
