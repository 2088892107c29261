#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TernaryConvert
import TernaryFormat
import TernaryGeneration
import TernaryServer
import TernaryModels
import TernaryTokenizer

/// One fuzz target: bytes in, and either nothing (a clean error or a clean success) or a thrown
/// `PropertyViolation`. A trap, a signal or a sanitizer report is a crash. The same functions run
/// under libFuzzer (`ternary-fuzz`, scripts/fuzz.sh) and over the committed corpus in `swift test`.
public struct FuzzTarget: Sendable {
    public let name: String
    public let summary: String
    public let run: @Sendable (UnsafeRawBufferPointer) throws -> Void
}

/// A result that is wrong without being a crash: the loaders accepted the input and then broke a
/// promise (a JSON value that does not survive a round trip, text that does not decode to itself).
public struct PropertyViolation: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum FuzzTargets {
    public static let all: [FuzzTarget] = [json, packedModel, tokenizerFile, vocabMerges, gguf, textRoundTrip, openAIRequest]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    /// The strict JSON reader: never traps; what it accepts serializes canonically and reads back equal.
    static let json = FuzzTarget(name: "json", summary: "JSONParser (strict, and with Infinity/NaN allowed)") { bytes in
        for parser in [JSONParser(), JSONParser(allowNonFiniteNumbers: true)] {
            guard let value = try? parser.parse(bytes) else { continue }
            let text = value.serialized()
            guard let again = try? parser.parse(text) else { throw PropertyViolation("canonical form does not parse: \(text.prefix(200))") }
            guard again.serialized() == text else { throw PropertyViolation("canonical form is not stable: \(text.prefix(200))") }
        }
    }

    /// A request body as `ternary serve` reads it: a 400 with a message, or a request the scheduler
    /// and the chat template take.
    static let openAIRequest = FuzzTarget(name: "openai-request", summary: "the server's request decoding (chat and text completions), options and chat rendering") { bytes in
        let tokenizer = try shippedTokenizer.get()
        for template in [ChatTemplate.speakers, .llama3] {
            if let problem = RequestFuzzing.violation(body: Array(bytes), tokenizer: tokenizer, template: template) { throw PropertyViolation(problem) }
        }
    }

    /// A packed model file: open, validate, build the model and its tokenizer, run one step.
    static let packedModel = FuzzTarget(name: "packed-model", summary: "packed .safetensors reader, validator, model load and one forward step") { bytes in
        let path = try InputFile.write(bytes, name: "model.safetensors")
        guard let model = try? ModelRegistry.load(path: path, isa: .scalar) else { return }
        let context = InferenceContext(threads: 1, microBatch: 4)
        let memory = model.makeMemory(MemoryOptions(capacity: 4))
        let tokens = [0, model.vocabularySize - 1]
        _ = try? model.forward(tokens, memory: memory, context: context, allLogits: true)
        if let tokenizer = model.tokenizer { try exercise(tokenizer, text: "Hello, world! 123 \u{1F600}") }
    }

    /// A tokenizer file as `--tokenizer` takes it: tokenizer.json, GGUF or llama2.c tokenizer.bin.
    static let tokenizerFile = FuzzTarget(name: "tokenizer-file", summary: "tokenizer.json / llama2.c tokenizer.bin loaders, then encode and decode") { bytes in
        let path = try InputFile.write(bytes, name: "tokenizer.bin")
        guard let tokenizer = try? TokenizerLoader.load(path: path) else { return }
        try exercise(tokenizer, text: "Hello, world!\n  <|endoftext|> don't 12345 \u{00E9}\u{4E2D}\u{1F600}")
    }

    /// A GPT-2 style vocabulary: the input is vocab.json, a 0xFF byte, then merges.txt.
    static let vocabMerges = FuzzTarget(name: "vocab-merges", summary: "vocab.json + merges.txt (split at the first 0xFF byte)") { bytes in
        let split = bytes.firstIndex(of: 0xFF) ?? bytes.count
        let vocab = UnsafeRawBufferPointer(rebasing: bytes[..<split])
        let merges = UnsafeRawBufferPointer(rebasing: bytes[min(split + 1, bytes.count)...])
        guard let vocabulary = try? TokenizerSpec.vocabulary(json: vocab, source: "vocab.json"),
              let spec = try? TokenizerSpec.gpt2(vocabulary: vocabulary, merges: TokenizerSpec.mergeLines(String(decoding: merges, as: UTF8.self)),
                                                  source: "merges.txt"),
              let tokenizer = try? spec.build(source: "merges.txt") else { return }
        try exercise(tokenizer, text: "Hello, world! don't 12345 \u{00E9}")
        // What a packed file stores must read back as the same tokenizer.
        guard let stored = try TokenizerSpec(metadata: spec.metadata, source: "metadata") else { throw PropertyViolation("stored tokenizer vanished") }
        guard stored.pieces == spec.pieces, stored.merges.count == spec.merges.count else {
            throw PropertyViolation("stored tokenizer differs: \(stored.pieces.count) pieces, \(stored.merges.count) merges")
        }
    }

    /// A GGUF file: the header and metadata reader, every tensor's bounds and blocks, the model
    /// conversion (config from metadata, tensors by name), then its tokenizer.
    static let gguf = FuzzTarget(name: "gguf", summary: "GGUF reader (header, metadata, tensor blocks), its conversion to a model, and its tokenizer") { bytes in
        let path = try InputFile.write(bytes, name: "model.gguf")
        guard let file = try? GGUFFile(path: path) else { return }
        for tensor in file.tensors {
            guard let (type, data) = try? file.data(of: tensor) else { continue }
            let elements = tensor.dimensions.reduce(1, *)
            if elements <= 1 << 16 { _ = type.floats(data, elements: elements) }
        }
        if let checkpoint = try? GGUFCheckpoint(path: path), let architecture = ModelRegistry.architecture(modelType: checkpoint.config["model_type"]?.string ?? ""),
           let config = try? architecture.decodeConfig(checkpoint.config),
           let manifest = try? architecture.manifest(config, QuantizationInfo(embeddings: .f16)),
           manifest.allSatisfy({ spec in spec.matrixShape.map { $0.rows * $0.k <= 1 << 16 } ?? true }) {
            for spec in manifest {
                switch spec.kind {
                case let .linear(rows, k), let .embedding(rows, k): _ = try? checkpoint.matrix(spec.source, rows: rows, k: k, transposed: spec.transposed)
                case let .vector(n): _ = try? checkpoint.floats(spec.source, shape: [n])
                case let .table(rows, columns): _ = try? checkpoint.floats(spec.source, shape: [rows, columns])
                }
            }
        }
        guard let spec = try? TokenizerSpec(gguf: file), let tokenizer = try? spec.build(source: path) else { return }
        try exercise(tokenizer, text: "Hello, world! <s> 12345 \u{00E9}")
    }

    /// The shipped model's GPT-2 tokenizer on arbitrary text: decoding the encoding gives the text
    /// back, byte for byte, and the streaming decoder agrees.
    static let textRoundTrip = FuzzTarget(name: "text-round-trip", summary: "GPT-2 byte-level BPE: decode(encode(text)) == text") { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        let tokenizer = try shippedTokenizer.get()
        let ids = tokenizer.encode(text, addSpecialTokens: false, parseSpecial: false)
        let back = try tokenizer.decode(ids)
        guard back == text else { throw PropertyViolation("round trip changed the text: \(Array(text.utf8).prefix(64)) → \(Array(back.utf8).prefix(64))") }
        var stream = StreamingDecoder(tokenizer: tokenizer)
        var streamed = ""
        for id in ids { streamed += try stream.append(id) }
        streamed += stream.flush()
        guard streamed == text else { throw PropertyViolation("the streaming decoder differs from decode") }
    }

    /// Encodes `text` and the input-derived strings, decodes every id, renders a chat prompt: none
    /// of it may trap, and every id must be inside the vocabulary.
    static func exercise(_ tokenizer: any Tokenizer, text: String) throws {
        for parseSpecial in [false, true] {
            let ids = tokenizer.encode(text, addSpecialTokens: true, parseSpecial: parseSpecial)
            if let bad = ids.first(where: { $0 < 0 || $0 >= tokenizer.vocabularySize }) {
                throw PropertyViolation("encode produced id \(bad) outside a vocabulary of \(tokenizer.vocabularySize)")
            }
            _ = try? tokenizer.decode(ids)
            var stream = StreamingDecoder(tokenizer: tokenizer)
            for id in ids { _ = try? stream.append(id) }
            _ = stream.flush()
        }
        for id in [0, tokenizer.vocabularySize - 1, tokenizer.vocabularySize, -1] {
            _ = try? tokenizer.bytes(of: id)
            _ = tokenizer.piece(id)
        }
        if let template = try? ChatTemplate.resolve(name: nil, tokenizer: tokenizer) {
            _ = try? template.prompt([ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: text)], tokenizer: tokenizer)
        }
    }

    /// The tokenizer of models/shakespeare-ternary.safetensors (path from TERNARY_FUZZ_MODEL or the
    /// source checkout), loaded once.
    static let shippedTokenizer: Result<TextTokenizer, Error> = Result {
        let path = ProcessInfo.processInfo.environment["TERNARY_FUZZ_MODEL"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../models/shakespeare-ternary.safetensors").standardized.path
        guard let tokenizer = try PackedModelFile(path: path).tokenizer() else { throw PropertyViolation("\(path) has no tokenizer") }
        return tokenizer
    }
}

/// Inputs that the readers take as files go to one scratch file per name and process.
enum InputFile {
    static let directory: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ternary-fuzz-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: InputFile.directory) }
        return dir
    }()

    static func write(_ bytes: UnsafeRawBufferPointer, name: String) throws -> String {
        let path = directory + "/" + name
        guard let file = fopen(path, "wb") else { throw PropertyViolation("cannot write \(path)") }
        defer { fclose(file) }
        if bytes.count > 0, fwrite(bytes.baseAddress, 1, bytes.count, file) != bytes.count { throw PropertyViolation("short write to \(path)") }
        return path
    }
}
