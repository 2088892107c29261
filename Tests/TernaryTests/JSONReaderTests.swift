#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Testing
import TernaryFormat
import TernaryKernels

/// The JSON reader that replaced JSONSerialization (config, metadata and safetensors headers), and
/// the number formatting that replaced String(format:).
@Suite("JSON reading and number formatting")
struct JSONReaderTests {
    @Test("objects, arrays, strings, integers, doubles, booleans and null come back as plain Swift values")
    func values() throws {
        let text = #"{"n_embd": 1600, "eps": 1e-05, "theta": 10000.0, "name": "gpt2", "flag": true, "none": null, "shape": [2, 3], "nested": {"k": "v"}}"#
        let root = try #require(try JSONReader.parse(Data(text.utf8)) as? [String: Any])
        #expect(root["n_embd"] as? Int == 1600)
        #expect(root["eps"] as? Double == 1e-05)
        #expect(JSONReader.double(root["theta"]!) == 10000)
        #expect(JSONReader.double(root["n_embd"]!) == 1600)
        #expect(JSONReader.double(root["name"]!) == nil)
        #expect(root["name"] as? String == "gpt2")
        #expect(root["flag"] as? Bool == true)
        #expect(root["none"] is JSONReader.Null)
        #expect(root["shape"] as? [Int] == [2, 3])
        #expect((root["nested"] as? [String: Any])?["k"] as? String == "v")
        #expect(root.count == 8)
    }

    @Test("invalid JSON is an error", arguments: [#"{"a": [1, 2"#, "", "{'a': 1}", "[1, 2] extra"])
    func invalid(_ text: String) {
        #expect(throws: JSONReader.SyntaxError.self) { try JSONReader.parse(Data(text.utf8)) }
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
