import Foundation
import Testing
@testable import TernaryGeneration
import TernaryKernels
import TernaryModels
import TernaryTokenizer

/// JSON mode: the prefix checker agrees with Foundation's JSON parser, and a completion held to
/// a JSON object produces one whatever the model would rather say.
@Suite("JSON mode")
struct JSONModeTests {
    static var model: any LanguageModel { BatchSchedulerTests.model }
    static var tokenizer: any Tokenizer { model.tokenizer! }

    /// Whether the checker takes every byte, and whether the text is then a whole object.
    static func check(_ text: String) -> (accepted: Int, complete: Bool) {
        var prefix = JSONPrefix()
        let bytes = Array(text.utf8)
        for (i, byte) in bytes.enumerated() where !prefix.consume(byte) { return (i, false) }
        return (bytes.count, prefix.isComplete)
    }

    /// Foundation's verdict: one JSON object.
    /// (Foundation accepts a comma before a close, which JSON does not: such texts count as
    /// invalid here.)
    static func isObject(_ text: String) -> Bool {
        text.firstMatch(of: #/,\s*[}\]]/#) == nil && (try? JSONSerialization.jsonObject(with: Data(text.utf8))) is [String: Any]
    }

    static let valid = [
        "{}", "\n{ }\n", #"{"a":1}"#, #"{"a": [1, -2.5, 3e10, -0, 0.25E-3, 1E+2], "b": {"c": null}}"#,
        #"{"s": "tab\there \"quoted\" \\ \/ \b\f\n\r \u00e9\uD83D\uDE00", "é": "日本語 😀"}"#,
        #"{"t": true, "f": false, "n": null, "nested": [[[]], {}, [{"x": []}]]}"#,
        "{\n  \"pretty\": [\n    1,\n    2\n  ]\n}\n",
    ]

    @Test("every prefix of a valid object is accepted, and only the whole (with trailing whitespace) is complete")
    func validObjects() {
        for text in Self.valid {
            let bytes = Array(text.utf8)
            var prefix = JSONPrefix()
            let lastSignificant = bytes.lastIndex { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }!
            for (i, byte) in bytes.enumerated() {
                let taken = prefix.consume(byte)
                #expect(taken, "\(text): byte \(i) rejected")
                #expect(prefix.isComplete == (i >= lastSignificant), "\(text): complete after byte \(i)?")
            }
            #expect(Self.isObject(text), "Foundation disagrees on \(text)")
        }
    }

    @Test("an invalid text is rejected at its first impossible byte", arguments: [
        ("[1]", 0), ("\"a\"", 0), (#"{"a":01}"#, 6), (#"{"a":tru }"#, 8), (#"{"a" 1}"#, 5), ("{,}", 1), (#"{"a":1,}"#, 7),
        (#"{"a":"\x"}"#, 7), (#"{"a":"\u12G4"}"#, 10), ("{\"a\":\"\u{01}\"}", 6), (#"{"a":-}"#, 6), (#"{"a":1.}"#, 7),
        (#"{"a":1e}"#, 7), (#"{"a":[1 2]}"#, 8), (#"{"a":1]"#, 6), (#"{"a":[1}"#, 7), ("{} x", 3), ("{}{}", 2),
        (#"{"a":+1}"#, 5), (#"{"a":.5}"#, 5), (#"{'a':1}"#, 1), (#"{"a":NaN}"#, 5), (#"{"a":nul}"#, 8),
    ])
    func invalidObjects(text: String, badByte: Int) {
        let result = Self.check(text)
        #expect(result.accepted == badByte && !result.complete)
        #expect(!Self.isObject(text))
    }

    @Test("malformed UTF-8 inside a string is rejected (overlong forms, surrogates, stray continuation bytes, past U+10FFFF)")
    func utf8() {
        for bad: [UInt8] in [[0xC0, 0x80], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80], [0xF5], [0xC3, 0x28]] {
            var prefix = JSONPrefix()
            let bytes = Array(#"{"a":""#.utf8) + bad + Array(#""}"#.utf8)
            let taken = prefix.consume(bytes)
            #expect(!taken, "\(bad) accepted")
        }
    }

    @Test("nesting and whitespace are bounded (one space, or a line break and up to 20 spaces or tabs), so a model cannot run on forever")
    func limits() {
        let deepest = "{\"a\":" + String(repeating: "[", count: JSONPrefix.maxDepth - 1)
        #expect(Self.check(deepest).accepted == deepest.utf8.count)
        let deep = "{\"a\":" + String(repeating: "[", count: JSONPrefix.maxDepth)
        #expect(Self.check(deep).accepted == deep.utf8.count - 1)
        let indent = "{\n" + String(repeating: " ", count: WhitespaceRun.maxIndent + 1)
        #expect(Self.check(indent).accepted == indent.utf8.count - 1)
        for run in ["  ", "\n\n", " \n", "\t", "\r\n"] { #expect(Self.check("{" + run).accepted == (run.first == "\t" || run.first == "\r\n" ? 1 : 2), "\(run.debugDescription)") }
    }

    /// A random JSON object of small depth, from pieces chosen by `random`.
    static func randomObject(_ random: inout SplitMix64, depth: Int = 0) -> String {
        func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
        func value() -> String {
            switch random.next() % (depth < 3 ? 8 : 6) {
            case 0: return pick(["0", "-0", "12", "-3.25", "1e5", "2.5E-3", "7e+2"])
            case 1: return pick(["true", "false", "null"])
            case 2, 3: return pick([#""""#, #""plain""#, #""esc \" \\ \n \u00e9""#, #""é 😀""#])
            case 4, 5: return pick(["[]", "[1, \"x\"]", "[null]"])
            case 6: return randomObject(&random, depth: depth + 1)
            default: return "[" + randomObject(&random, depth: depth + 1) + "]"
            }
        }
        let count = Int(random.next() % 4)
        let members = (0..<count).map { i in pick(["", " ", "\n  "]) + "\"k\(i)\"" + pick([":", ": ", " : "]) + value() }
        return "{" + members.joined(separator: ",") + pick(["", " ", "\n"]) + "}"
    }

    @Test("on random objects and one-piece mutations of them, the checker and Foundation's parser agree")
    func agreesWithFoundation() {
        var random = SplitMix64(seed: 7)
        // (No whitespace among the pieces: JSON allows any run of it, this checker only the runs above.)
        let pieces = ["{", "}", "[", "]", ",", ":", "\"", "\\", "1", "0", "-", ".", "e", "+", "t", "null", "é", "x", "\u{01}"]
        var validSeen = 0, invalidSeen = 0
        for _ in 0..<2000 {
            var text = Array(Self.randomObject(&random))
            switch random.next() % 4 {
            case 0: break
            case 1: text.insert(contentsOf: pieces[Int(random.next() % UInt64(pieces.count))], at: Int(random.next() % UInt64(text.count + 1)))
            case 2: text.remove(at: Int(random.next() % UInt64(text.count)))
            default: text[Int(random.next() % UInt64(text.count))] = pieces[Int(random.next() % UInt64(pieces.count))].first!
            }
            let string = String(text)
            // A deletion can leave a whitespace run JSON allows and this checker does not (two spaces).
            guard string.matches(of: #/[ \t\r\n]+/#).allSatisfy({ $0.output == " " || $0.output.wholeMatch(of: #/\n[ \t]{0,20}/#) != nil }) else { continue }
            let foundation = Self.isObject(string)
            let (accepted, complete) = Self.check(string)
            #expect(complete == foundation, "checker \(complete), Foundation \(foundation): \(string.debugDescription)")
            if !foundation { #expect(!complete || accepted < string.utf8.count) }
            if foundation { validSeen += 1 } else { invalidSeen += 1 }
        }
        #expect(validSeen > 500 && invalidSeen > 300)
    }

    @Test("the sampler picks only allowed tokens, greedy or not, and says so when none is allowed")
    func samplerMask() throws {
        var random = SplitMix64(seed: 3)
        let logits = (0..<1000).map { _ in Float(Double(random.next() % 1000) / 100) }
        let allowed = (0..<1000).map { $0 % 7 == 3 }
        for temperature: Float in [0, 0.7, 1.5] {
            for seed: UInt64 in 0..<20 {
                var options = SamplingOptions()
                options.temperature = temperature
                options.seed = seed
                var sampler = Sampler(options: options)
                let token = try sampler.sample(logits, history: [3, 10], allowed: allowed)
                #expect(allowed[token])
            }
        }
        var greedy = Sampler(options: .greedy)
        let best = logits.indices.filter { allowed[$0] }.max { logits[$0] < logits[$1] }!
        let picked = try greedy.sample(logits, history: [], allowed: allowed)
        #expect(picked == best)
        #expect(throws: GenerationError.self) { try greedy.sample(logits, history: [], allowed: [Bool](repeating: false, count: 1000)) }
        // More logits than flags (a model's padded table): the extra ones are never picked.
        var padded = logits + [100, 200]
        let short = try greedy.sample(padded, history: [], allowed: allowed)
        #expect(short == best)
        padded[0] = .greatestFiniteMagnitude
        var penalized = SamplingOptions.greedy
        penalized.repetitionPenalty = 1e-38  // overflows: the limit path
        var limit = Sampler(options: penalized)
        let fromLimit = try limit.sample(padded, history: [0, 1000, 1001], allowed: allowed)
        #expect(allowed[fromLimit])
    }

    @Test("the shipped model, held to JSON, writes objects Foundation parses, greedy and sampled, and stops when one closes")
    func shippedModelWritesJSON() throws {
        let generator = try Generator(model: Self.model, context: InferenceContext(threads: 1), memoryOptions: MemoryOptions(capacity: 256))
        // A Shakespeare model has hardly seen a quote: once inside a string it writes verse until
        // the budget ends. A logit bias on the tokens that hold a quote or a closing brace makes
        // most runs close their object at once, as `{}`; the scripted test below covers content.
        var bias: [Int: Float] = [:]
        for id in 0..<Self.tokenizer.vocabularySize where !Self.tokenizer.isSpecial(id) {
            if let bytes = try? Self.tokenizer.bytes(of: id), bytes.contains(UInt8(ascii: "\"")) || bytes.contains(UInt8(ascii: "}")) { bias[id] = 10 }
        }
        var closed = 0
        for seed: UInt64 in 0..<6 {
            var options = seed == 0 ? SamplingOptions.greedy : SamplingOptions()
            options.seed = seed
            options.logitBias = bias
            var text = ""
            let prompt = Self.tokenizer.encode("ROMEO:\nWhat says my love?\n")
            let (_, stats) = try generator.generate(promptIDs: prompt, maxTokens: 160, options: options, format: .jsonObject) {
                text += $0
                return true
            }
            let (accepted, complete) = Self.check(text)
            #expect(accepted == text.utf8.count, "seed \(seed): the text left the format: \(text)")
            if stats.stopReason == StopReason.eos.rawValue {
                #expect(complete && Self.isObject(text), "seed \(seed): \(text)")
                closed += 1
            } else {
                #expect(stats.generatedTokens == 160)
            }
        }
        #expect(closed >= 3, "too few objects closed within 160 tokens")
        // Unconstrained, the same model writes no JSON at all.
        var plain = ""
        try generator.generate(promptIDs: Self.tokenizer.encode("ROMEO:\n"), maxTokens: 40, options: .greedy) { plain += $0; return true }
        #expect(Self.check(plain).accepted == 0)
    }

    @Test("where the model prefers tokens that break the object (end of text, a control character), the best allowed one is taken")
    func bestAllowedToken() throws {
        let script = #"{"name": "Romeo", "age": 16, "lines": ["O", true, null]}"#
        let ids = Self.tokenizer.encode(script, addSpecialTokens: false, parseSpecial: false)
        let control = Self.tokenizer.encode("\u{01}", addSpecialTokens: false, parseSpecial: false)[0]
        let endOfText = try #require(Self.tokenizer.eos)
        var completion = Completion(tokenizer: Self.tokenizer, prompt: [endOfText], maxTokens: 100, capacityLeft: 1000, options: .greedy,
                                    format: .jsonObject)
        var text = ""
        for (step, id) in ids.enumerated() {
            var logits = [Float](repeating: 0, count: Self.tokenizer.vocabularySize)
            logits[endOfText] = 10
            logits[control] = 9  // no JSON text has a raw control character
            logits[id] = 8
            let (piece, feed) = try completion.next(logits: logits)
            text += piece
            #expect((feed == nil) == (step == ids.count - 1))
        }
        #expect(text == script)
        #expect(completion.stopReason == .eos && completion.generated == ids)
        // Plain text takes the model's favourite: the end of text.
        var plain = Completion(tokenizer: Self.tokenizer, prompt: [endOfText], maxTokens: 100, capacityLeft: 1000, options: .greedy)
        var logits = [Float](repeating: 0, count: Self.tokenizer.vocabularySize)
        logits[endOfText] = 10
        _ = try plain.next(logits: logits)
        #expect(plain.stopReason == .eos && plain.generated.isEmpty)
    }
}
