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
        print("  " + "name".padded(to: nameWidth) + "  dtype  shape                 bytes")
        for name in st.tensorNames {
            let t = st.tensors[name]!
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            print("  " + name.padded(to: nameWidth) + "  "
                  + t.dtype.rawValue.padded(to: 5) + "  "
                  + shape.padded(to: 20) + "  \(t.data.count)")
        }
    }
}
