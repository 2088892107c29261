import Foundation
import Testing

/// Karpathy's stories260K (a real, trained Llama-2-architecture model in llama2.c's format) through
/// the packer and the engine, against the greedy sample its documentation publishes.
@Suite("stories260K end to end")
struct StoriesTests {
    static let directory = TestPaths.sharedData.appendingPathComponent("models/stories260K").path

    /// The greedy sample in stories260K.md, from "Once upon a time" to "We can help you."
    static func publishedSample() throws -> String {
        let doc = try String(contentsOfFile: directory + "/stories260K.md", encoding: .utf8)
        let start = try #require(doc.range(of: "Once upon a time, there was a little girl named Lily."))
        let end = try #require(doc.range(of: "We can help you."))
        return String(doc[start.lowerBound..<end.upperBound])
    }

    @Test("packed with --weights f32, greedy generation from BOS prints the published sample byte for byte")
    func greedySample() throws {
        let out = TestPaths.temporaryDirectory().appendingPathComponent("stories260K.safetensors").path
        let pack = try CLITests.run(["pack", Self.directory + "/stories260K.bin", "--tokenizer", Self.directory + "/tok512.bin",
                                     "--weights", "f32", "-o", out])
        #expect(pack.status == 0, "\(pack.err)")
        let run = try CLITests.run(["generate", "-m", out, "--temperature", "0", "-n", "256", ""])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out.hasPrefix(try Self.publishedSample()), "got: \(run.out.prefix(700))")
    }

    @Test("held to a JSON schema, the SentencePiece model writes it through byte-fallback tokens and stops when it closes")
    func structuredOutput() throws {
        let out = TestPaths.temporaryDirectory().appendingPathComponent("stories260K.safetensors").path
        let pack = try CLITests.run(["pack", Self.directory + "/stories260K.bin", "--tokenizer", Self.directory + "/tok512.bin", "-o", out])
        #expect(pack.status == 0, "\(pack.err)")
        let schema = #"{"type": "object", "properties": {"mood": {"enum": ["happy", "sad"]}, "name": {"type": "string", "maxLength": 8}}, "required": ["mood", "name"]}"#
        let run = try CLITests.run(["generate", "-m", out, "--json-schema", schema, "--temperature", "0", "-n", "200", "--quiet", ""])
        #expect(run.status == 0, "\(run.err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any], "got: \(run.out)")
        #expect(["happy", "sad"].contains(object["mood"] as? String ?? "") && ((object["name"] as? String)?.count ?? 99) <= 8)
    }

    @Test("a truncated llama2.c checkpoint is refused with the sizes it should have")
    func truncatedCheckpoint() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.directory + "/stories260K.bin"))
        let path = TestPaths.temporaryDirectory().appendingPathComponent("cut.bin").path
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: path))
        let run = try CLITests.run(["pack", path, "--tokenizer", Self.directory + "/tok512.bin", "-o", path + ".safetensors"])
        #expect(run.reason == .exit && run.status != 0)
        #expect(run.err.contains("the header implies 1056540 bytes but the file has 1056440"), "\(run.err)")
        #expect(!FileManager.default.fileExists(atPath: path + ".safetensors"))
    }
}
