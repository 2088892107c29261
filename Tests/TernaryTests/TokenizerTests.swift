import Foundation
import Testing
@testable import TernaryTokenizer

@Suite("GPT-2 tokenizer")
struct TokenizerTests {
    static let tokenizer = try! TokenizerLoader.load(path: TestPaths.gpt2Tokenizer)

    struct Case: Decodable { let text: String; let ids: [Int]; let ordinary: [Int] }

    @Test("1,200 varied strings encode exactly as tiktoken's GPT-2 encoding, and decode back")
    func matchesTiktoken() throws {
        let data = try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("tokenizer-cases.json"))
        let cases = try JSONDecoder().decode([Case].self, from: data)
        #expect(cases.count >= 1000)
        var failures = 0
        for c in cases {
            let ids = Self.tokenizer.encode(c.text, addSpecialTokens: false, parseSpecial: true)
            let ordinary = Self.tokenizer.encode(c.text, addSpecialTokens: false, parseSpecial: false)
            if ids != c.ids || ordinary != c.ordinary {
                failures += 1
                if failures <= 5 { Issue.record("mismatch for \(c.text.debugDescription): got \(ids), expected \(c.ids)") }
            }
            #expect(try Self.tokenizer.decode(c.ids) == c.text)
        }
        #expect(failures == 0)
    }

    @Test("llama.cpp's 46 GPT-2 tokenizer test vectors give the expected ids")
    func llamaCppVectors() throws {
        let dir = URL(fileURLWithPath: TestPaths.gpt2Tokenizer)
        let input = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-gpt-2.gguf.inp"), encoding: .utf8)
        let output = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-gpt-2.gguf.out"), encoding: .utf8)
        var texts = input.components(separatedBy: "\n__ggml_vocab_test__\n")
        if texts.last == "" { texts.removeLast() }
        let expected = output.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.split(separator: " ").map { Int($0)! }
        }
        #expect(texts.count == 46)
        for (i, text) in texts.enumerated() {
            #expect(Self.tokenizer.encode(text, addSpecialTokens: false, parseSpecial: false) == expected[i], "case \(i): \(text.debugDescription)")
        }
    }

    @Test("all of tinyshakespeare is exactly 338,025 tokens")
    func tinyshakespeareCount() throws {
        let text = try String(contentsOf: TestPaths.sharedData.appendingPathComponent("text/tinyshakespeare/input.txt"), encoding: .utf8)
        #expect(Self.tokenizer.encode(text, addSpecialTokens: false, parseSpecial: false).count == 338_025)
    }

    @Test("<|endoftext|> is id 50256, unless special tokens are off")
    func specialToken() {
        #expect(Self.tokenizer.encode("a<|endoftext|>b") == [64, 50256, 65])
        #expect(!Self.tokenizer.encode("a<|endoftext|>b", addSpecialTokens: false, parseSpecial: false).contains(50256))
    }

    @Test("streaming decode prints a multi-byte character once, only when complete")
    func streamingDecoderHoldsPartialCharacters() throws {
        // "🤖" is split over several byte-level tokens.
        let ids = Self.tokenizer.encode("I am 🤖 ok")
        var decoder = StreamingDecoder(tokenizer: Self.tokenizer)
        var pieces: [String] = []
        for id in ids { pieces.append(try decoder.append(id)) }
        pieces.append(decoder.flush())
        #expect(pieces.joined() == "I am 🤖 ok")
        #expect(!pieces.contains { $0.contains("\u{FFFD}") })
        #expect(pieces.filter { $0.contains("🤖") }.count == 1)
    }

    @Test("an unknown id is an error, not a crash")
    func unknownID() {
        #expect(throws: TokenizerError.self) { try Self.tokenizer.decode([60000]) }
        #expect(throws: TokenizerError.self) { try Self.tokenizer.decode([-1]) }
    }
}
