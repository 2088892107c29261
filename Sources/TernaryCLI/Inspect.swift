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
import TernaryModels

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a packed file's format version, config and tensors, then check it as `generate` would load it.",
        discussion: "Exits with status 1 when the file would not load (a missing tensor, a wrong shape, a NaN, an invalid code).")

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
        if let spec = try packed.tokenizerSpec() {
            // Ids are checked when the model loads (below); here an invalid one is only not shown.
            let special = [("bos", spec.bos), ("eos", spec.eos)].compactMap { name, id in
                id.flatMap { spec.pieces.indices.contains($0) ? "\(name) \($0) \(spec.pieces[$0].debugDescription)" : nil }
            }
            print("tokenizer:      \(st.metadata["tokenizer.model"] ?? "?"), \(spec.pieces.count) tokens, \(spec.merges.count) merges"
                  + (special.isEmpty ? "" : ", " + special.joined(separator: ", ")) + (spec.chatTemplate == nil ? "" : ", chat template"))
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
        // The listing above shows what is there; this says whether the engine can run it.
        _ = try ModelRegistry.load(path: file, isa: .scalar)
        print("check:          ok (every tensor the config needs, with valid shapes and values)")
    }
}
