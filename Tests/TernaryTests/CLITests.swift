import Foundation
import Testing

/// End-to-end runs of the `ternary` executable (built by `swift build` before the tests).
@Suite("ternary CLI")
struct CLITests {
    /// TERNARY_BIN (scripts/sanitize.sh points it at the sanitized build), else the newest build.
    static var binary: String? {
        if let path = ProcessInfo.processInfo.environment["TERNARY_BIN"], !path.isEmpty { return path }
        let candidates = ["debug", "release"].map { TestPaths.root.appendingPathComponent(".build/\($0)/ternary").path }
            .filter { FileManager.default.isExecutableFile(atPath: $0) }
        return candidates.max {
            let a = (try? FileManager.default.attributesOfItem(atPath: $0)[.modificationDate] as? Date) ?? .distantPast
            let b = (try? FileManager.default.attributesOfItem(atPath: $1)[.modificationDate] as? Date) ?? .distantPast
            return a < b
        }
    }

    struct Result { let status: Int32; let reason: Process.TerminationReason; let out: String; let err: String }

    /// Runs the binary; `input`, when given, is its standard input (then closed).
    static func run(_ arguments: [String], input: String? = nil) throws -> Result {
        let bin = try #require(binary, "build the ternary executable first (swift build)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bin)
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), stdin = Pipe()
        process.standardOutput = out
        process.standardError = err
        if input != nil { process.standardInput = stdin }
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, reason: process.terminationReason,
                      out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }

    static let fixture = TestPaths.fixtures.appendingPathComponent("gpt2-tiny").path

    @Test("pack prints sizes and ratio; inspect shows the format version, each matrix's format and the tensor table")
    func packAndInspect() throws {
        let out = TestPaths.temporaryDirectory().appendingPathComponent("m.safetensors").path
        let pack = try Self.run(["pack", Self.fixture, "-o", out, "--no-tokenizer", "--embeddings", "int8"])
        #expect(pack.status == 0, "\(pack.err)")
        #expect(pack.out.contains("→") && pack.out.contains("× smaller"))
        let inspect = try Self.run(["inspect", out])
        #expect(inspect.status == 0)
        #expect(inspect.out.contains("ternary v1"))
        #expect(inspect.out.contains("h.1.mlp.c_proj.weight") && inspect.out.contains("U32") && inspect.out.contains("[80, 20]"))
        #expect(inspect.out.contains("\"embeddings\":\"int8\""))
        // Each matrix's format, from matrix_formats: the 2-layer fixture's eight linear layers and its tied embeddings.
        #expect(inspect.out.contains("matrices:       int8 1 (wte), ternary 8"), "\(inspect.out)")
    }

    @Test("tokenize --ids prints one JSON array; --decode turns it back into text")
    func tokenizeRoundTrip() throws {
        let ids = try Self.run(["tokenize", "--tokenizer", TestPaths.gpt2Tokenizer, "--ids", "Hello world! 🤖"])
        #expect(ids.status == 0)
        #expect(ids.out == "[15496,995,0,12520,97,244]\n")
        let text = try Self.run(["tokenize", "--tokenizer", TestPaths.gpt2Tokenizer, "--decode", "[15496,995,0,12520,97,244]"])
        #expect(text.out == "Hello world! 🤖")
    }

    @Test("bad files and bad options exit non-zero with a message, never a crash", arguments: [
        (["inspect", "/nonexistent.safetensors"], "cannot open"),
        (["generate", "-m", "/tmp", "hi"], "is a directory"),
        (["pack", "/nonexistent", "-o", "/tmp/x.safetensors"], "not a directory"),
        (["pack", "/tmp", "-o", "/tmp/x.safetensors", "--embeddings", "int3"], "--embeddings int3"),
        (["generate", "-m", "/dev/null", "--temperature", "-1", "hi"], "--temperature"),
        (["generate", "-m", "/dev/null", "--top-p", "0", "hi"], "--top-p"),
        (["generate", "-m", "/dev/null", "--threads", "0", "hi"], "--threads"),
        (["generate", "-m", "/dev/null", "--ubatch", "0", "hi"], "--ubatch 0 is invalid"),
        (["bench", "-m", "/dev/null", "--ubatch", "100000"], "--ubatch 100000 is invalid"),
        (["perplexity", "-m", "/dev/null", "--file", "/nonexistent.txt"], "does not exist"),
        (["tokenize", "--tokenizer", "/tmp", "hi"], "no tokenizer"),
        (["pack", TestPaths.fixtures.appendingPathComponent("gpt2-tiny").path, "-o", "/tmp/never.safetensors",
          "--tokenizer", TestPaths.gpt2Tokenizer], "the tokenizer has 50257 tokens but vocab_size is 300"),
    ])
    func failuresAreClean(arguments: [String], fragment: String) throws {
        let result = try Self.run(arguments)
        #expect(result.reason == .exit, "terminated by a signal")
        #expect(result.status != 0)
        #expect(result.err.contains(fragment), "stderr: \(result.err)")
    }
}
