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
        var options = PackOptions()
        // The file's own embeddings may be F16, Q8_0, Q6_K or Q4_0; F16 keeps every one of them
        // exactly or nearly so (Q8_0's products round to 11 bits).
        options.embeddings = .f16
        // A GGUF without a tokenizer runs on token ids, as a packed file without one does.
        options.withoutTokenizer = try GGUFFile(path: path).metadata["tokenizer.ggml.model"] == nil
        _ = try Packer.pack(gguf: path, output: packed, options: options)
        return try ModelRegistry.load(path: packed, isa: isa)
    }
}
