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
import TernaryModels

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a packed or GGUF file's format, config or metadata and tensors, then check it as `generate` would load it.",
        discussion: "Exits with status 1 when the file would not load (a missing tensor, a wrong shape, a NaN, an invalid code).")

    @Argument(help: "Packed model file, or a GGUF file.")
    var file: String

    func run() throws {
        if GGUFFile.isGGUF(path: file) { return try inspectGGUF() }
        let packed = try PackedModelFile(path: file)
        let st = packed.file
        print("file:           \(file) (\(formatBytes(st.fileSize)))")
        print("format:         \(PackedModelFile.formatName) v\(try st.requireMetadata("format_version"))")
        print("architecture:   \(packed.architecture)")
        print("config:         \(try st.requireMetadata("config"))")
        print("quantization:   \(try st.requireMetadata("quantization"))")
        if let formats = packed.matrixFormats {
            // Each format with its matrix count, and the names where there are few (a head, embeddings).
            let byFormat = Dictionary(grouping: formats.keys.sorted()) { formats[$0]!.rawValue }
            print("matrices:       " + byFormat.keys.sorted().map { format in
                let names = byFormat[format]!
                return "\(format) \(names.count)" + (names.count <= 2 ? " (" + names.joined(separator: ", ") + ")" : "")
            }.joined(separator: ", "))
        } else {
            print("matrices:       formats told by dtype (a file written before matrix_formats)")
        }
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

extension Inspect {
    /// A GGUF file: every metadata key (long values shortened), its tensors, then the check.
    func inspectGGUF() throws {
        let gguf = try GGUFFile(path: file)
        print("file:           \(file) (\(formatBytes(gguf.bytes.count)))")
        print("format:         GGUF v\(gguf.version), alignment \(gguf.alignment)")
        print("metadata:       \(gguf.keys.count) keys")
        let keyWidth = gguf.keys.map(\.count).max() ?? 0
        for key in gguf.keys { print("  " + key.padded(to: keyWidth) + "  " + Self.summary(gguf.metadata[key]!)) }
        print("tensors:        \(gguf.tensors.count)")
        guard !gguf.tensors.isEmpty else {
            print("check:          a vocabulary without weights (use it as --tokenizer)")
            return
        }
        let nameWidth = max(4, gguf.tensors.map(\.name.count).max() ?? 0)
        print("  " + "name".padded(to: nameWidth) + "  type   shape (ggml order)")
        for t in gguf.tensors {
            print("  " + t.name.padded(to: nameWidth) + "  " + GGUFTensorType.describe(t.type).padded(to: 5) + "  ["
                  + t.dimensions.map(String.init).joined(separator: ", ") + "]")
        }
        _ = try ModelLoader.load(path: file, isa: .scalar)
        print("check:          ok (converts and loads: every tensor the architecture needs, ternary blocks exact)")
    }

    static func summary(_ value: GGUFFile.Value) -> String {
        func short(_ s: String) -> String {
            let flat = s.debugDescription
            return flat.count > 72 ? String(flat.prefix(69)) + "…\"" : flat
        }
        switch value {
        case let .string(s): return short(s)
        case let .unsigned(u): return "\(u)"
        case let .signed(i): return "\(i)"
        case let .float(f): return "\(f)"
        case let .bool(b): return "\(b)"
        case let .strings(list):
            let head = (0..<min(3, list.count)).map { (list[$0] ?? "?").debugDescription }.joined(separator: ", ")
            return "[\(list.count) strings: \(head)\(list.count > 3 ? ", …" : "")]"
        case let .array(type, items):
            let head = items.prefix(4).map(summary).joined(separator: ", ")
            return "[\(items.count) × \(type): \(head)\(items.count > 4 ? ", …" : "")]"
        }
    }
}
