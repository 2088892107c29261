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
import TernaryKernels
import TernaryModels

/// Opens any model file the commands take: a packed file directly, a GGUF file by converting it
/// (ternary tensors exactly) into a packed file in the temporary directory that is mapped and then
/// unlinked, so nothing is left behind.
public enum ModelLoader {
    public static func load(path: String, isa: KernelISA = .best) throws -> any LanguageModel {
        guard GGUFFile.isGGUF(path: path) else { return try ModelRegistry.load(path: path, isa: isa) }
        let directory = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let packed = joinPath(directory, "ternary-gguf-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).safetensors")
        defer { unlink(packed) }
        let file = try GGUFFile(path: path)
        var options = PackOptions()
        options.embeddings = embeddingsFormat(file)
        // A GGUF without a tokenizer runs on token ids, as a packed file without one does.
        options.withoutTokenizer = file.metadata["tokenizer.ggml.model"] == nil
        _ = try Packer.pack(gguf: path, output: packed, options: options)
        return try ModelRegistry.load(path: packed, isa: isa)
    }

    /// How a GGUF's embeddings and head are kept: Q4_0 ones as q4, which is the same blocks (the
    /// same values and the same integer head as the packed file they may have been exported from);
    /// any other type as f16, which keeps F16, Q8_0, Q6_K and Q4_0 values exactly or nearly so
    /// (Q8_0's products round to 11 bits).
    public static func embeddingsFormat(_ file: GGUFFile) -> WeightFormat {
        let matrices = file.tensors.filter { $0.name == "token_embd.weight" || $0.name == "output.weight" }
        return !matrices.isEmpty && matrices.allSatisfy({ $0.type == GGUFTensorType.q4_0.rawValue }) ? .q4 : .f16
    }
}
