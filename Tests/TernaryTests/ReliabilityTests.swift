import Foundation
import Testing
@testable import TernaryConvert
@testable import TernaryFormat
@testable import TernaryModels
@testable import TernaryTokenizer

/// What an adversarial user tried (issue 15): every case ends in a clear error or correct output,
/// never a signal, a silently wrong result or a file left behind.
@Suite("Reliability")
struct ReliabilityTests {
    static var model: String { TestPaths.root.appendingPathComponent("models/shakespeare-ternary.safetensors").path }
    static let fixture = TestPaths.fixtures.appendingPathComponent("gpt2-tiny").path

    static func expectCleanFailure(_ arguments: [String], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try CLITests.run(arguments)
        #expect(result.reason == .exit, "terminated by a signal: \(result.err)", sourceLocation: sourceLocation)
        #expect(result.status != 0, sourceLocation: sourceLocation)
        #expect(result.err.contains(fragment), "stderr: \(result.err)", sourceLocation: sourceLocation)
    }

    /// The shipped model with one float tensor's first value replaced.
    static func poisoned(_ tensor: String, with value: Float) throws -> String {
        let file = try SafetensorsFile(path: model)
        let tensors = file.tensorNames.map { n -> OutputTensor in
            let t = file.tensors[n]!
            var bytes = Array(t.data)
            if n == tensor { withUnsafeBytes(of: value) { for i in 0..<4 { bytes[i] = $0[i] } } }
            return OutputTensor(name: n, dtype: t.dtype, shape: t.shape, bytes: bytes)
        }
        let path = TestPaths.temporaryDirectory().appendingPathComponent("poisoned.safetensors").path
        try SafetensorsWriter.write(to: path, metadata: file.metadata, tensors: tensors)
        return path
    }

    @Test("a NaN or infinity in a float tensor is refused at load, naming it (not laundered into garbage text)", arguments: [Float.nan, .infinity])
    func nonFiniteWeights(_ value: Float) throws {
        try Self.expectCleanFailure(["generate", "-m", try Self.poisoned("ln_f.weight", with: value), "ROMEO:", "-n", "4"],
                                    "is corrupt: tensor 'ln_f.weight': element 0 is NaN or infinite; re-pack or re-download it")
    }

    @Test("a ternary code 3 or an int8 weight −128 is refused at load")
    func invalidCodes() throws {
        let file = try SafetensorsFile(path: Self.model)
        for (tensor, byte) in [("h.0.mlp.c_fc.weight", UInt8(0xFF)), ("wte.weight", UInt8(0x80))] {
            let tensors = file.tensorNames.map { n -> OutputTensor in
                let t = file.tensors[n]!
                var bytes = Array(t.data)
                if n == tensor { bytes[5] = byte }
                return OutputTensor(name: n, dtype: t.dtype, shape: t.shape, bytes: bytes)
            }
            let path = TestPaths.temporaryDirectory().appendingPathComponent("codes.safetensors").path
            try SafetensorsWriter.write(to: path, metadata: file.metadata, tensors: tensors)
            try Self.expectCleanFailure(["generate", "-m", path, "x", "-n", "1"], "tensor '\(tensor)': byte 5")
        }
    }

    /// A fuzz seed with one metadata entry changed (nil removes it).
    static func withMetadata(_ seed: String, _ key: String, _ edit: (String?) -> String?) throws -> String {
        let file = try SafetensorsFile(path: TestPaths.root.appendingPathComponent("Fuzz/corpus/packed-model/\(seed)").path)
        var metadata = file.metadata
        metadata[key] = edit(metadata[key])
        let tensors = file.tensorNames.map { n in OutputTensor(name: n, dtype: file.tensors[n]!.dtype, shape: file.tensors[n]!.shape, bytes: Array(file.tensors[n]!.data)) }
        let path = TestPaths.temporaryDirectory().appendingPathComponent("edited.safetensors").path
        try SafetensorsWriter.write(to: path, metadata: metadata, tensors: tensors)
        return path
    }

    @Test("metadata not in the packed form is refused, naming the key, never filled with defaults or shown with a trap", arguments: [
        ("seed-llama-bf16", "config", { (s: String?) in s!.replacingOccurrences(of: #","rope_theta":10000.0"#, with: "") }, "'rope_theta' is missing"),
        ("seed-llama-bf16", "config", { (s: String?) in s!.replacingOccurrences(of: "{", with: #"{"extra":1,"#) }, "'extra' is not a key of llama configs"),
        ("seed-llama-bf16", "config", { (s: String?) in s!.replacingOccurrences(of: ",", with: ", ") }, "not in canonical form"),
        ("seed-llama-bf16", "config", { (s: String?) in s!.replacingOccurrences(of: "1e-06", with: "18446744073709551616") }, "not in canonical form"),
        ("seed-llama-bf16", "quantization", { (s: String?) in s!.replacingOccurrences(of: "int8-absmax-per-token", with: "fp8") }, "activations must be"),
        ("seed-llama-bf16", "tokenizer.spec", { (_: String?) in nil }, "tokenizer keys are [\"tokenizer.model\"]"),
        ("seed-llama-bf16", "tokenizer.spec", { (s: String?) in s!.replacingOccurrences(of: #""eos":2"#, with: #""eos":-1"#) }, "token id -1 is outside"),
        ("seed-gpt2-ternary", "tokenizer.merges", { (s: String?) in s!.replacingOccurrences(of: "\n", with: "\r\n") }, "tokenizer.merges is not one"),
    ] as [(String, String, @Sendable (String?) -> String?, String)])
    func packedForm(_ seed: String, _ key: String, _ edit: @Sendable (String?) -> String?, _ message: String) throws {
        let path = try Self.withMetadata(seed, key, edit)
        try Self.expectCleanFailure(["inspect", path], message)
    }

    @Test("an int8 matrix with a nonzero weight in its row padding is refused at load")
    func int8Padding() throws {
        // n_embd 16, stored padded to 64 columns (the fuzz seed packed with --weights int8).
        let file = try SafetensorsFile(path: TestPaths.root.appendingPathComponent("Fuzz/corpus/packed-model/seed-gpt2-int8").path)
        let tensors = file.tensorNames.map { n -> OutputTensor in
            let t = file.tensors[n]!
            var bytes = Array(t.data)
            if n == "h.0.mlp.c_fc.weight" { bytes[64 + 20] = 1 }
            return OutputTensor(name: n, dtype: t.dtype, shape: t.shape, bytes: bytes)
        }
        let path = TestPaths.temporaryDirectory().appendingPathComponent("padding.safetensors").path
        try SafetensorsWriter.write(to: path, metadata: file.metadata, tensors: tensors)
        try Self.expectCleanFailure(["bench", "-m", path, "-p", "1", "-n", "1", "-r", "1"],
                                    "tensor 'h.0.mlp.c_fc.weight': row 1 has a nonzero weight in its padding (position 20 of 16)")
    }

    @Test("a vanishing temperature or repetition penalty samples the best token instead of trapping")
    func vanishingScales() throws {
        for extra in [["--temperature", "1e-38"], ["--repeat-penalty", "1e-40"], ["--temperature", "1e-38", "--repeat-penalty", "1e-40"]] {
            let result = try CLITests.run(["generate", "-m", Self.model, "ROMEO:", "-n", "8", "--quiet"] + extra)
            #expect(result.reason == .exit && result.status == 0, "\(extra): \(result.err)")
        }
    }

    static func withMetadata(_ edit: (inout [String: String]) -> Void) throws -> String {
        let file = try SafetensorsFile(path: model)
        var metadata = file.metadata
        edit(&metadata)
        let tensors = file.tensorNames.map { n in
            let t = file.tensors[n]!
            return OutputTensor(name: n, dtype: t.dtype, shape: t.shape, bytes: Array(t.data))
        }
        let path = TestPaths.temporaryDirectory().appendingPathComponent("edited.safetensors").path
        try SafetensorsWriter.write(to: path, metadata: metadata, tensors: tensors)
        return path
    }

    @Test("huge or sparse vocabulary ids are an error before anything is allocated", arguments: [1 << 62, 1 << 31, 1 << 53, -1])
    func hugeTokenIDs(_ id: Int) throws {
        let path = try Self.withMetadata { m in
            m["tokenizer.vocab"] = m["tokenizer.vocab"]!.replacingOccurrences(of: "\"!\":0", with: "\"!\":\(id)")
        }
        for command in [["inspect", path], ["generate", "-m", path, "hi", "-n", "1"]] {
            try Self.expectCleanFailure(command, "ids must be 0..<50257")
        }
    }

    @Test("absurd sizes in a config are errors naming the key, in a packed file and in a checkpoint", arguments: [
        ("\"n_embd\":192", "\"n_embd\":2305843009213693952", "'n_embd': 2305843009213693952 is outside"),
        ("\"n_layer\":6", "\"n_layer\":1000000000", "'n_layer': 1000000000 is outside"),
        ("\"n_inner\":768", "\"n_inner\":-3", "'n_inner': -3 is outside"),
    ])
    func absurdSizes(_ original: String, _ replacement: String, _ fragment: String) throws {
        let path = try Self.withMetadata { m in m["config"] = m["config"]!.replacingOccurrences(of: original, with: replacement) }
        #expect(try CLITests.run(["inspect", path]).reason == .exit, "inspect shows such a file without crashing")
        try Self.expectCleanFailure(["generate", "-m", path, "hi", "-n", "1"], fragment)
        // The same in a Hugging Face checkpoint.
        let dir = TestPaths.temporaryDirectory().appendingPathComponent("hf")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.fixture), to: dir)
        let configPath = dir.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configPath)) as! [String: Any]
        let key = String(original.split(separator: ":")[0].dropFirst().dropLast())
        config[key] = Int(replacement.split(separator: ":")[1])!
        try JSONSerialization.data(withJSONObject: config).write(to: configPath)
        try Self.expectCleanFailure(["pack", dir.path, "-o", dir.appendingPathComponent("out.safetensors").path, "--no-tokenizer"], key)
    }

    @Test("a NaN or infinity in a checkpoint's weights is refused by the packer, naming the tensor")
    func nonFiniteCheckpoint() throws {
        let dir = TestPaths.temporaryDirectory().appendingPathComponent("hf")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.fixture), to: dir)
        let weights = dir.appendingPathComponent("model.safetensors").path
        let file = try SafetensorsFile(path: weights)
        let tensors = file.tensorNames.map { n -> OutputTensor in
            let t = file.tensors[n]!
            var bytes = Array(t.data)
            if n.hasSuffix("h.1.mlp.c_fc.weight") { bytes[6] = 0x00; bytes[7] = 0x7E }  // an F16 NaN
            return OutputTensor(name: n, dtype: t.dtype, shape: t.shape, bytes: bytes)
        }
        try SafetensorsWriter.write(to: weights + ".new", metadata: file.metadata, tensors: tensors)
        try FileManager.default.removeItem(atPath: weights)
        try FileManager.default.moveItem(atPath: weights + ".new", toPath: weights)
        let out = dir.appendingPathComponent("out.safetensors").path
        try Self.expectCleanFailure(["pack", dir.path, "-o", out, "--no-tokenizer"], "h.1.mlp.c_fc (element ")
        try Self.expectCleanFailure(["pack", dir.path, "-o", out, "--no-tokenizer"], " is nan)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test("a GPT-2 config that asks for unscaled attention is refused, not ignored")
    func unscaledAttention() throws {
        let dir = TestPaths.temporaryDirectory().appendingPathComponent("hf")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.fixture), to: dir)
        let configPath = dir.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configPath)) as! [String: Any]
        config["scale_attn_weights"] = false
        try JSONSerialization.data(withJSONObject: config).write(to: configPath)
        try Self.expectCleanFailure(["pack", dir.path, "-o", dir.appendingPathComponent("o.safetensors").path, "--no-tokenizer"],
                                    "'scale_attn_weights': false (unscaled attention scores) is not supported")
    }

    @Test("a shard index that points outside the checkpoint directory is refused")
    func shardEscape() throws {
        let dir = TestPaths.temporaryDirectory().appendingPathComponent("hf")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.fixture + "/config.json"), to: dir.appendingPathComponent("config.json"))
        try #"{"weight_map": {"wte.weight": "../../x.safetensors"}}"#.write(to: dir.appendingPathComponent("model.safetensors.index.json"), atomically: true, encoding: .utf8)
        try Self.expectCleanFailure(["pack", dir.path, "-o", dir.appendingPathComponent("o.safetensors").path, "--no-tokenizer"],
                                    "is not a file name inside the checkpoint directory")
    }

    @Test("a merges file with CRLF line endings loads every merge and tokenizes as the LF one")
    func crlfMerges() throws {
        let dir = TestPaths.temporaryDirectory()
        try FileManager.default.copyItem(atPath: TestPaths.gpt2Tokenizer + "/encoder.json", toPath: dir.appendingPathComponent("encoder.json").path)
        let merges = try String(contentsOfFile: TestPaths.gpt2Tokenizer + "/vocab.bpe", encoding: .utf8)
        try merges.replacingOccurrences(of: "\n", with: "\r\n").write(to: dir.appendingPathComponent("vocab.bpe"), atomically: true, encoding: .utf8)
        let crlf = try TokenizerLoader.spec(path: dir.path), lf = try TokenizerLoader.spec(path: TestPaths.gpt2Tokenizer)
        #expect(crlf.merges.count == 50_000 && crlf.merges.count == lf.merges.count)
        let text = "Hello world, don't panic!"
        #expect(try crlf.build(source: "").encode(text, addSpecialTokens: false, parseSpecial: false)
                == lf.build(source: "").encode(text, addSpecialTokens: false, parseSpecial: false))
    }

    @Test("a merges file without merges is an error, not a tokenizer that spells every byte")
    func emptyMerges() throws {
        let dir = TestPaths.temporaryDirectory()
        try FileManager.default.copyItem(atPath: TestPaths.gpt2Tokenizer + "/encoder.json", toPath: dir.appendingPathComponent("encoder.json").path)
        try "#version: 0.2\n".write(to: dir.appendingPathComponent("vocab.bpe"), atomically: true, encoding: .utf8)
        #expect(throws: TokenizerError.self) { try TokenizerLoader.spec(path: dir.path) }
    }

    @Test("text that is not UTF-8 is an error naming the byte offset, or replaced with --lossy")
    func invalidUTF8() throws {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("bad.txt").path
        FileManager.default.createFile(atPath: path, contents: Data("ROMEO: abc".utf8 + [0xFF, 0xC0, 0x41] + Data(" more text".utf8)))
        try Self.expectCleanFailure(["perplexity", "-m", Self.model, "--file", path], "byte 10 (0xff) starts an invalid sequence (2 invalid bytes in all); pass --lossy")
        try Self.expectCleanFailure(["generate", "-m", Self.model, "--file", path, "-n", "1"], "byte 10 (0xff)")
        let lossy = try CLITests.run(["tokenize", "-m", Self.model, "--file", path, "--lossy", "--ids"])
        #expect(lossy.status == 0 && lossy.err.contains("replaced 2 bytes"))
    }

    @Test("a long prompt comes from a file or standard input")
    func promptFromFile() throws {
        let text = String(repeating: "ROMEO: What light through yonder window breaks?\n", count: 3)
        let path = TestPaths.temporaryDirectory().appendingPathComponent("prompt.txt").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let fromFile = try CLITests.run(["generate", "-m", Self.model, "--file", path, "-n", "4", "--temperature", "0", "--quiet"])
        #expect(fromFile.status == 0 && fromFile.out.hasPrefix(text), "\(fromFile.err)")
        let bin = try #require(CLITests.binary)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bin)
        process.arguments = ["generate", "-m", Self.model, "--file", "-", "-n", "4", "--temperature", "0", "--quiet"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = Pipe()
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(out == fromFile.out, "standard input gives what the file gives")
    }

    @Test("negative numbers are values with a message about them, not a missing value", arguments: [
        (["generate", "-n", "-5", "x"], "-n -5 is invalid"), (["generate", "--seed", "-3", "x"], "--seed -3 is invalid"),
        (["generate", "--temperature", "-1", "x"], "--temperature -1.0 is invalid"), (["bench", "-r", "-2"], "-r -2 is invalid"),
        (["perplexity", "--file", "x", "--ctx", "-9"], "--ctx -9 is invalid"), (["generate", "--threads", "-4", "x"], "--threads -4 is invalid"),
    ])
    func negativeNumbers(_ arguments: [String], _ fragment: String) throws {
        try Self.expectCleanFailure(arguments, fragment)
    }

    @Test("more threads than cores finishes as fast as it can, with a note")
    func oversubscribedThreads() throws {
        let result = try CLITests.run(["generate", "-m", Self.model, "ROMEO:", "-n", "8", "-t", "1000", "--quiet"])
        #expect(result.status == 0 && result.err.contains("using"))
    }

    @Test("error messages name the file once, and what to do")
    func messages() throws {
        let dir = TestPaths.temporaryDirectory().appendingPathComponent("hf")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.fixture), to: dir)
        let configPath = dir.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configPath)) as! [String: Any]
        config["n_head"] = 7
        try JSONSerialization.data(withJSONObject: config).write(to: configPath)
        let bad = try CLITests.run(["pack", dir.path, "-o", dir.appendingPathComponent("o.safetensors").path, "--no-tokenizer"])
        #expect(bad.err.components(separatedBy: configPath.path).count == 2, "the path once: \(bad.err)")
        // A model without a tokenizer names its file, not its architecture.
        let plain = dir.appendingPathComponent("plain.safetensors").path
        config["n_head"] = 4
        try JSONSerialization.data(withJSONObject: config).write(to: configPath)
        #expect(try CLITests.run(["pack", dir.path, "-o", plain, "--no-tokenizer"]).status == 0)
        try Self.expectCleanFailure(["generate", "-m", plain, "hi"], "'\(plain)' carries no tokenizer")
        // pack reports real sizes.
        let packed = try CLITests.run(["pack", dir.path, "-o", plain, "--no-tokenizer"])
        #expect(!packed.out.contains("(0 B)") && packed.out.contains("× smaller"), "\(packed.out)")
    }

    /// Starts `ternary synth --preset tiny -o out` and sends `signal` once `when` holds (polled).
    /// The writer pauses after the header (`TERNARY_TEST_WRITE_PAUSE_MS`), so the signal lands
    /// while the temporary file exists however loaded the machine is; the pause ends with it.
    static func interruptedWrite(out: String, signal: Int32, when: () -> Bool) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(CLITests.binary))
        process.arguments = ["synth", "--preset", "tiny", "-o", out]
        process.environment = ProcessInfo.processInfo.environment.merging(["TERNARY_TEST_WRITE_PAUSE_MS": "30000"]) { _, new in new }
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning, !when(), Date() < deadline { usleep(1000) }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return process
    }

    static func temporaries(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.contains(".partial-") }
    }

    @Test("a write killed or interrupted mid-way leaves no partial output; what kill -9 leaves, the next write removes",
          arguments: [SIGKILL, SIGINT, SIGTERM])
    func interruptedWrites(_ signal: Int32) throws {
        let dir = TestPaths.temporaryDirectory()
        let out = dir.appendingPathComponent("model.safetensors").path
        for moment in ["before writing", "while writing"] {
            let process = try Self.interruptedWrite(out: out, signal: signal) {
                moment == "before writing" ? true : !Self.temporaries(dir).isEmpty
            }
            #expect(process.terminationReason == .uncaughtSignal, "\(moment): ended by the signal")
            #expect(!FileManager.default.fileExists(atPath: out), "\(moment): never a partial file under the output name")
            if signal != SIGKILL { #expect(Self.temporaries(dir).isEmpty, "\(moment): the handler removed the temporary file") }
        }
        // The next write to the same path completes and removes what a killed one left.
        let again = try CLITests.run(["synth", "--preset", "tiny", "-o", out])
        #expect(again.status == 0)
        #expect(Self.temporaries(dir).isEmpty, "left: \(Self.temporaries(dir))")
        #expect(throws: Never.self) { try PackedModelFile(path: out) }
    }
}
