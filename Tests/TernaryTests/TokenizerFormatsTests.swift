import Foundation
import Testing
@testable import TernaryFormat
@testable import TernaryTokenizer

/// The tokenizer pipeline on real vocabularies: llama.cpp's own test vectors for GPT-2, Llama 3
/// (byte-level BPE) and Llama 2 (SentencePiece), llama2.c's tok512.bin against run.c's algorithm,
/// and what a packed file stores.
@Suite("Tokenizers from GGUF, llama2.c and packed files")
struct TokenizerFormatsTests {
    static let vocabularies = ["gpt2/ggml-vocab-gpt-2", "llama3/ggml-vocab-llama-bpe", "llama2/ggml-vocab-llama-spm"]

    /// llama.cpp's test-tokenizer-0 cases: `.inp` split on "\n__ggml_vocab_test__\n" (the piece after
    /// the last separator dropped), `.out` one line of ids per case.
    static func cases(_ name: String) throws -> [(text: String, ids: [Int])] {
        let base = TestPaths.sharedData.appendingPathComponent(name).path
        let input = try String(contentsOfFile: base + ".gguf.inp", encoding: .utf8).components(separatedBy: "\n__ggml_vocab_test__\n").dropLast()
        let output = try String(contentsOfFile: base + ".gguf.out", encoding: .utf8).components(separatedBy: "\n")
        return input.enumerated().map { i, text in (text, output[i].split(separator: " ").map { Int($0)! }) }
    }

    @Test("all 46 of llama.cpp's cases, for GPT-2, Llama 3 and Llama 2 vocabularies read from GGUF", arguments: vocabularies)
    func llamaCppVectors(_ name: String) throws {
        let tokenizer = try TokenizerLoader.load(path: TestPaths.sharedData.appendingPathComponent(name + ".gguf").path)
        let cases = try Self.cases(name)
        #expect(cases.count == 46)
        for (i, c) in cases.enumerated() {
            #expect(tokenizer.encode(c.text, addSpecialTokens: false, parseSpecial: false) == c.ids, "case \(i): \(c.text.debugDescription)")
        }
    }

    @Test("a vocabulary survives the trip through a packed file's metadata", arguments: vocabularies)
    func storageRoundTrip(_ name: String) throws {
        let spec = try TokenizerLoader.spec(path: TestPaths.sharedData.appendingPathComponent(name + ".gguf").path)
        let again = try #require(try TokenizerSpec(metadata: spec.metadata, source: "metadata"))
        let a = try spec.build(source: "gguf"), b = try again.build(source: "metadata")
        #expect(a.pieces == b.pieces && a.kinds == b.kinds && a.bos == b.bos && a.eos == b.eos && a.stopTokens == b.stopTokens)
        for (i, c) in try Self.cases(name).enumerated() {
            #expect(b.encode(c.text, addSpecialTokens: true, parseSpecial: true) == a.encode(c.text, addSpecialTokens: true, parseSpecial: true), "case \(i)")
        }
    }

    @Test("Llama 3 special tokens are text unless parsing is asked for; BOS comes from the vocabulary")
    func specialTokens() throws {
        let tokenizer = try TokenizerLoader.load(path: TestPaths.sharedData.appendingPathComponent("llama3/ggml-vocab-llama-bpe.gguf").path)
        let eot = try #require(tokenizer.id(ofPiece: "<|eot_id|>"))
        #expect(tokenizer.bos == 128000 && tokenizer.stopTokens.contains(eot) && tokenizer.stopTokens.contains(128001))
        let parsed = tokenizer.encode("hi<|eot_id|>", addSpecialTokens: false, parseSpecial: true)
        let plain = tokenizer.encode("hi<|eot_id|>", addSpecialTokens: false, parseSpecial: false)
        #expect(parsed.last == eot && !plain.contains(eot) && plain.count > 2)
        #expect(try tokenizer.decode(parsed) == "hi<|eot_id|>" && (try tokenizer.decode(plain)) == "hi<|eot_id|>")
        #expect(try tokenizer.decode(parsed, skipSpecial: true) == "hi")
    }

    // MARK: llama2.c

    static let tok512 = TestPaths.sharedData.appendingPathComponent("models/stories260K/tok512.bin").path
    static let sample = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.\nLily's mom said, \"Lily, let's go to the park.\""

    /// run.c's `encode`, written plainly: a dummy space token, one token per UTF-8 code point (its
    /// bytes + 3 if it is not in the vocabulary), then repeatedly merge the adjacent pair whose
    /// joined string is the best-scoring token (the first such pair on ties).
    static func runCEncode(_ text: String, pieces: [String], scores: [Float]) -> [Int] {
        var lookup: [[UInt8]: Int] = [:]
        for (i, p) in pieces.enumerated() where lookup[Array(p.utf8)] == nil { lookup[Array(p.utf8)] = i }
        var tokens = [1]
        if !text.isEmpty { tokens.append(lookup[Array(" ".utf8)]!) }
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if let id = lookup[bytes] { tokens.append(id) } else { tokens += bytes.map { Int($0) + 3 } }
        }
        while true {
            var best = -Float.greatestFiniteMagnitude, bestID = -1, at = -1
            for i in 0..<(tokens.count - 1) {
                if let id = lookup[Array(pieces[tokens[i]].utf8) + Array(pieces[tokens[i + 1]].utf8)], scores[id] > best {
                    best = scores[id]; bestID = id; at = i
                }
            }
            if at < 0 { break }
            tokens[at] = bestID
            tokens.remove(at: at + 1)
        }
        return tokens
    }

    static func tok512Scores() throws -> (pieces: [String], scores: [Float]) {
        let data = try Data(contentsOf: URL(fileURLWithPath: tok512))
        var pieces: [String] = [], scores: [Float] = [], offset = 4
        while offset < data.count {
            let score = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Float.self) }
            let n = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: Int32.self) })
            pieces.append(String(decoding: data[(offset + 8)..<(offset + 8 + n)], as: UTF8.self))
            scores.append(score)
            offset += 8 + n
        }
        return (pieces, scores)
    }

    @Test("tok512.bin encodes as run.c does (the sample text and odd strings) and decodes back")
    func llama2cTokenizer() throws {
        let tokenizer = try TokenizerLoader.load(path: Self.tok512)
        let (pieces, scores) = try Self.tok512Scores()
        #expect(tokenizer.vocabularySize == 512 && tokenizer.bos == 1 && tokenizer.eos == 2 && tokenizer.stopTokens == [1, 2])
        for text in [Self.sample, "", " ", "a", "Hello\n\nworld  !", "naïve café 🤖 日本", "\u{0}\u{7f}"] {
            let ids = tokenizer.encode(text, addSpecialTokens: true, parseSpecial: false)
            #expect(ids == Self.runCEncode(text, pieces: pieces, scores: scores), "\(text.debugDescription)")
            #expect(try tokenizer.decode(ids, skipSpecial: true) == text, "\(text.debugDescription)")
        }
        // Streaming: the first piece after BOS loses its leading space, as run.c prints it.
        var decoder = StreamingDecoder(tokenizer: tokenizer, after: 1)
        let ids = tokenizer.encode("Once upon", addSpecialTokens: false, parseSpecial: false)
        #expect(try ids.map { try decoder.append($0) }.joined() == "Once upon")
    }

    // MARK: Bad input

    static func write(_ bytes: [UInt8], name: String = "file") -> String {
        let path = TestPaths.temporaryDirectory().appendingPathComponent(name).path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    @Test("malformed tokenizer.json files are errors naming the file and what is wrong", arguments: [
        (#"{"model": {"type": "Unigram", "vocab": []}}"#, "model type 'Unigram' is not supported"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": "1"}, "merges": []}}"#, "model.vocab['b'] must be an integer id"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}}"#, "'a c' is not two vocabulary tokens"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 5}, "merges": []}}"#, "ids must be 0..<2"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}}}"#, "does not compile"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "NFKC"}}"#, "normalizer type 'NFKC' is not supported"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}}"#, "unk_token '<unk>' is not in the vocabulary"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"content": "a", "id": 3}]}"#, "added token 'a' has id 3"),
        (#"{"model": "#, "not valid JSON"),
    ])
    func malformedTokenizerJSON(_ json: String, fragment: String) {
        let path = Self.write(Array(json.utf8), name: "tokenizer.json")
        do {
            _ = try TokenizerLoader.load(path: path)
            Issue.record("accepted \(json)")
        } catch {
            #expect("\(error)".contains(fragment), "\(error)")
            #expect("\(error)".contains(path), "the message names the file: \(error)")
        }
    }

    @Test("arbitrary bytes, invalid UTF-8 and out-of-range ids never crash encode or decode")
    func hostileText() throws {
        let tokenizers = try Self.vocabularies.map { try TokenizerLoader.load(path: TestPaths.sharedData.appendingPathComponent($0 + ".gguf").path) }
            + [try TokenizerLoader.load(path: Self.tok512)]
        var random = SystemRandomNumberGenerator()
        for tokenizer in tokenizers {
            for _ in 0..<200 {
                let bytes = (0..<Int.random(in: 0..<64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                let text = String(decoding: bytes, as: UTF8.self)
                let ids = tokenizer.encode(text, addSpecialTokens: true, parseSpecial: true)
                #expect(ids.allSatisfy { $0 >= 0 && $0 < tokenizer.vocabularySize })
                _ = try tokenizer.decode(ids)
                var decoder = StreamingDecoder(tokenizer: tokenizer)
                for id in ids { _ = try decoder.append(id) }
                _ = decoder.flush()
            }
            #expect(throws: TokenizerError.self) { try tokenizer.decode([tokenizer.vocabularySize]) }
            #expect(throws: TokenizerError.self) { try tokenizer.decode([-1]) }
        }
    }

    @Test("a truncated or corrupt llama2.c tokenizer is an error, not a crash")
    func badLlama2c() throws {
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.tok512)))
        for bytes in [Array(good.prefix(good.count - 3)), Array(good.prefix(2)), [0, 0, 0, 0] + Array(good.dropFirst(4)), Array(good.prefix(1000))] {
            #expect(throws: TokenizerError.self) { try TokenizerLoader.load(path: Self.write(bytes)) }
        }
    }

    /// A GGUF header: magic, version, tensor count, metadata count, then `body`.
    static func gguf(version: UInt32 = 3, tensors: UInt64 = 0, keys: UInt64, _ body: [UInt8]) -> [UInt8] {
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        return Array("GGUF".utf8) + le(version) + le(tensors) + le(keys) + body
    }

    static func ggufString(_ s: String) -> [UInt8] { withUnsafeBytes(of: UInt64(s.utf8.count).littleEndian) { Array($0) } + Array(s.utf8) }

    @Test("malformed GGUF files are errors, never traps or huge allocations", arguments: [
        ([UInt8](), "is empty"),
        (Array("GGUF".utf8), "truncated"),
        (gguf(version: 1, keys: 0, []), "GGUF v1"),
        (gguf(keys: 1 << 63, []), "more than"),
        (gguf(keys: 1, ggufString("k") + [8, 0, 0, 0] + withUnsafeBytes(of: UInt64(1 << 40)) { Array($0) }), "claims 1099511627776 bytes"),
        (gguf(keys: 1, ggufString("k") + [99, 0, 0, 0]), "not a GGUF value type"),
        (gguf(keys: 1, ggufString("k") + [9, 0, 0, 0] + [4, 0, 0, 0] + withUnsafeBytes(of: UInt64.max) { Array($0) }), "more than"),
        (gguf(keys: 2, ggufString("k") + [4, 0, 0, 0, 1, 0, 0, 0] + ggufString("k") + [4, 0, 0, 0, 1, 0, 0, 0]), "appears twice"),
        (gguf(keys: 1, ggufString("k") + [7, 0, 0, 0, 2]), "not a boolean"),
        (gguf(tensors: 1, keys: 0, ggufString("w") + [1, 0, 0, 0] + withUnsafeBytes(of: UInt64(4)) { Array($0) } + [0, 0, 0, 0]
              + withUnsafeBytes(of: UInt64(3)) { Array($0) }), "not a multiple of the alignment"),
    ])
    func badGGUF(_ bytes: [UInt8], fragment: String) {
        let path = Self.write(bytes)
        do {
            _ = try GGUFFile(path: path)
            Issue.record("accepted \(bytes.count) bytes")
        } catch {
            #expect("\(error)".contains(fragment), "\(error)")
        }
    }
}
