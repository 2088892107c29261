#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TernaryFormat

/// Finds and reads a tokenizer wherever users keep one.
public enum TokenizerLoader {
    /// A directory with tokenizer.json (+ tokenizer_config.json), vocab.json + merges.txt, or
    /// encoder.json + vocab.bpe; or a file: tokenizer.json, a GGUF file (its tokenizer.ggml.*
    /// metadata) or a llama2.c tokenizer.bin.
    public static func spec(path: String) throws -> TokenizerSpec {
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw TokenizerError.missingFile(path: path) }
        if !isDirectory { return try spec(file: path) }
        func inside(_ name: String) -> String { path.hasSuffix("/") ? path + name : path + "/" + name }
        let fm = FileManager.default
        if fm.fileExists(atPath: inside("tokenizer.json")) {
            let config = fm.fileExists(atPath: inside("tokenizer_config.json")) ? try parse(inside("tokenizer_config.json")) : nil
            return try TokenizerSpec(huggingFace: try parse(inside("tokenizer.json")), config: config, source: inside("tokenizer.json"))
        }
        for (vocab, merges) in [("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")]
        where fm.fileExists(atPath: inside(vocab)) && fm.fileExists(atPath: inside(merges)) {
            let vocabulary = try TokenizerSpec.vocabulary(json: try read(inside(vocab)), source: inside(vocab))
            return try .gpt2(vocabulary: vocabulary, merges: TokenizerSpec.mergeLines(String(decoding: try read(inside(merges)), as: UTF8.self)),
                             source: inside(merges))
        }
        throw TokenizerError.noTokenizer(directory: path)
    }

    /// A tokenizer file: tokenizer.json, GGUF, or llama2.c tokenizer.bin.
    public static func spec(file path: String) throws -> TokenizerSpec {
        if GGUFFile.isGGUF(path: path) { return try TokenizerSpec(gguf: try GGUFFile(path: path)) }
        let bytes = try read(path)
        if bytes.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) == UInt8(ascii: "{") {
            let json: JSONValue
            do { json = try JSONParser().parse(bytes) } catch { throw TokenizerError.malformedVocab(source: path, reason: "not valid JSON: \(error)") }
            return try TokenizerSpec(huggingFace: json, config: nil, source: path)
        }
        return try TokenizerSpec(llama2c: bytes, source: path)
    }

    public static func load(path: String) throws -> TextTokenizer { try spec(path: path).build(source: path) }

    static func parse(_ path: String) throws -> JSONValue {
        do { return try JSONParser().parse(try read(path)) } catch let error as JSONParser.SyntaxError {
            throw TokenizerError.malformedVocab(source: path, reason: "not valid JSON: \(error)")
        }
    }

    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenizerError.missingFile(path: path) }
        return [UInt8](data)
    }
}
