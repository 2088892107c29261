import Testing
import TernaryFormat
import TernaryKernels

/// The strict JSON reader (configs, metadata, safetensors headers, tokenizer files), the decoder
/// that turns it into config structs, and the number formatting that replaced String(format:).
@Suite("JSON reading and number formatting")
struct JSONTests {
    @Test("objects, arrays, strings, integers, doubles, booleans and null come back in document order")
    func values() throws {
        let text = #"{"n_embd": 1600, "eps": 1e-05, "theta": 10000.0, "name": "gpt\u00e9\ud83e\udd16", "flag": true, "none": null, "shape": [2, 3], "nested": {"k": "v"}}"#
        let root = try JSONParser().parse(text)
        #expect(root["n_embd"] == .int(1600))
        #expect(root["eps"] == .double(1e-05))
        #expect(root["theta"] == .double(10000), "a number with a fraction stays a non-integer")
        #expect(root["theta"]?.number == 10000 && root["n_embd"]?.number == 1600)
        #expect(root["name"]?.string == "gpté🤖")
        #expect(root["flag"] == .bool(true))
        #expect(root["none"]?.isNull == true)
        #expect(root["shape"] == .array([.int(2), .int(3)]))
        #expect(root["nested"]?["k"]?.string == "v")
        guard case let .object(pairs) = root else { Issue.record("not an object"); return }
        #expect(pairs.map(\.0) == ["n_embd", "eps", "theta", "name", "flag", "none", "shape", "nested"])
    }

    @Test("invalid JSON is an error with a line and column", arguments: [
        (#"{"a": [1, 2"#, "end of the text"), ("", "end of the text"), ("{'a': 1}", "expected a string key"),
        ("[1, 2] extra", "after the JSON value"), (#"{"a": 1,}"#, "expected a string key"), ("[1,]", "unexpected character"),
        ("{\"a\":\n 01}", "line 2, column 3"), (#"{"a": NaN}"#, "unexpected character 'N'"), (#"["\x"]"#, "unknown escape"),
        (#"["\ud800"]"#, "high surrogate"), ("// c\n1", "unexpected character '/'"),
    ])
    func invalid(_ text: String, fragment: String) {
        do {
            _ = try JSONParser().parse(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect("\(error)".contains(fragment), "\(error)")
        }
    }

    @Test("a key that appears twice in an object is an error, not a silent choice of one")
    func duplicateKeys() {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser().parse(#"{"n_layer": 2, "n_layer": 48}"#) }
        #expect(throws: Never.self) { try JSONParser().parse(#"[{"a": 1}, {"a": 2}]"#) }
    }

    @Test("bytes that are not UTF-8 inside a string are an error")
    func invalidUTF8() {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser().parse([0x22, 0xFF, 0xFE, 0x22]) }
    }

    @Test("Infinity, -Infinity and NaN are read only where allowed (Hugging Face config.json)")
    func nonFinite() throws {
        let text = #"{"time_step_limit": [0.0, Infinity], "low": -Infinity, "x": NaN}"#
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser().parse(text) }
        let value = try JSONParser(allowNonFiniteNumbers: true).parse(text)
        #expect(value["time_step_limit"] == .array([.double(0), .double(.infinity)]))
        #expect(value["low"] == .double(-.infinity))
        #expect(value["x"]?.number?.isNaN == true)
        // Written back as Python's json.dumps writes them (found by the json fuzzer: this trapped).
        #expect(value.serialized() == #"{"low":-Infinity,"time_step_limit":[0.0,Infinity],"x":NaN}"#)
        // A literal beyond a double's range is an error where infinities are not allowed.
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser().parse("[-1e400]") }
        #expect(try JSONParser(allowNonFiniteNumbers: true).parse("[-1e400]") == .array([.double(-.infinity)]))
    }

    @Test("transformers 5's {\"__float__\": \"Infinity\"} reads as the number where non-finite numbers are allowed")
    func taggedNonFinite() throws {
        let text = #"{"time_step_limit": [0.0, {"__float__": "Infinity"}], "low": {"__float__": "-Infinity"}, "x": {"__float__": "NaN"}, "#
            + #""other": {"__float__": "1.5"}, "two": {"__float__": "NaN", "y": 1}}"#
        let value = try JSONParser(allowNonFiniteNumbers: true).parse(text)
        #expect(value["time_step_limit"] == .array([.double(0), .double(.infinity)]))
        #expect(value["low"] == .double(-.infinity))
        #expect(value["x"]?.number?.isNaN == true)
        // Only those three tags, alone in their object, are numbers; anything else stays an object.
        #expect(value["other"] == .object([("__float__", .string("1.5"))]))
        #expect(value["two"] == .object([("__float__", .string("NaN")), ("y", .int(1))]))
        #expect(try JSONParser().parse(text)["low"] == .object([("__float__", .string("-Infinity"))]))
    }

    @Test("deep nesting is refused instead of exhausting the stack")
    func deepNesting() {
        let text = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser().parse(text) }
    }

    struct Sample: Decodable, Equatable {
        let width: Int
        let eps: Double
        let name: String?
        let scaling: Scaling?
        struct Scaling: Decodable, Equatable { let factor: Double }
        enum CodingKeys: String, CodingKey { case width = "n_embd", eps, name, scaling = "rope_scaling" }
    }

    @Test("configs decode with their Hugging Face names; null and absent optionals are nil")
    func decodes() throws {
        let a = try JSONValueDecoder.decode(Sample.self, from: try JSONParser().parse(#"{"n_embd": 64, "eps": 1, "name": null, "rope_scaling": {"factor": 8.0}}"#))
        #expect(a == Sample(width: 64, eps: 1, name: nil, scaling: .init(factor: 8)))
        let b = try JSONValueDecoder.decode(Sample.self, from: try JSONParser().parse(#"{"n_embd": 64, "eps": 1e-5}"#))
        #expect(b.scaling == nil && b.name == nil)
    }

    @Test("a decoding error names the key path and what was found", arguments: [
        (#"{"n_embd": 64.0, "eps": 1}"#, "'n_embd': expected an integer, found a non-integer number"),
        (#"{"eps": 1}"#, "'n_embd': missing"),
        (#"{"n_embd": 1, "eps": "x"}"#, "'eps': expected a number, found a string"),
        (#"{"n_embd": 1, "eps": 1, "rope_scaling": {"factor": "8"}}"#, "'rope_scaling.factor': expected a number"),
    ])
    func decodingErrors(_ text: String, message: String) throws {
        do {
            _ = try JSONValueDecoder.decode(Sample.self, from: try JSONParser().parse(text))
            Issue.record("decoded \(text)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test("fixed-point formatting rounds like printf's %.Nf")
    func fixed() {
        #expect(49.26.fixed(1) == "49.3")
        #expect(0.75.fixed(0) == "1")
        #expect(1234.0.fixed(0) == "1234")
        #expect(3.14159.fixed(4) == "3.1416")
        #expect(0.0042.fixed(2) == "0.00")
        #expect(0.07.fixed(3) == "0.070")
        #expect((-2.5).fixed(1) == "-2.5")
        #expect((-0.001).fixed(1) == "0.0")
        #expect(152.27958.fixed(4) == "152.2796")
        #expect(472.0.fixed(1) == "472.0")
        #expect(Double.nan.fixed(1) == "nan")
        #expect(Double.infinity.fixed(1) == "inf")
    }
}
