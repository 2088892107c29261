import Foundation
import Testing

/// `generate`, `chat`, `synth` and `bench` on a tiny synthetic model carrying the real GPT-2 tokenizer.
@Suite("ternary CLI: generation, chat, synth, bench")
struct InteractiveCLITests {
    static let model: String = {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("tiny.safetensors").path
        let result = try! CLITests.run(["synth", "--preset", "tiny", "--embeddings", "f16", "--tokenizer", TestPaths.gpt2Tokenizer, "-o", path])
        precondition(result.status == 0, result.err)
        return path
    }()

    @Test("generate streams the prompt and new text, then a stats line; the same seed gives the same text")
    func generateIsSeeded() throws {
        let a = try CLITests.run(["generate", "-m", Self.model, "Hello", "-n", "12", "--seed", "7"])
        let b = try CLITests.run(["generate", "-m", Self.model, "Hello", "-n", "12", "--seed", "7"])
        let c = try CLITests.run(["generate", "-m", Self.model, "Hello", "-n", "12", "--seed", "8", "--repeat-penalty", "1"])
        #expect(a.status == 0, "\(a.err)")
        #expect(a.out.hasPrefix("Hello") && a.out.count > "Hello".count)
        #expect(a.out == b.out)
        #expect(a.out != c.out)
        #expect(a.err.contains("prompt: 1 tokens") && a.err.contains("generated: 12 tokens") && a.err.contains("tok/s"))
    }

    @Test("greedy generation is deterministic and -n 0 generates nothing")
    func greedy() throws {
        let a = try CLITests.run(["generate", "-m", Self.model, "The", "-n", "8", "--temperature", "0", "--quiet"])
        let b = try CLITests.run(["generate", "-m", Self.model, "The", "-n", "8", "--temperature", "0", "--quiet", "--seed", "99"])
        #expect(a.out == b.out)
        let none = try CLITests.run(["generate", "-m", Self.model, "The", "-n", "0"])
        #expect(none.out == "The\n")
    }

    @Test("chat answers each line, keeps going after Ctrl-C ends a reply, and leaves on end of input")
    func chatSurvivesInterrupt() throws {
        let bin = try #require(CLITests.binary)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bin)
        process.arguments = ["chat", "-m", Self.model, "-n", "120", "--temperature", "1", "--min-p", "0"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data("tell me a story\n".utf8))
        // Wait for the reply to start streaming, then interrupt it.
        var seen = Data()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !String(decoding: seen, as: UTF8.self).contains("ROMEO: ") || seen.count < 12 {
            seen += output.fileHandleForReading.availableData
        }
        kill(process.processIdentifier, SIGINT)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(process.isRunning, "Ctrl-C must end the reply, not the program")
        input.fileHandleForWriting.write(Data("and another\n".utf8))
        try input.fileHandleForWriting.close()
        let rest = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: seen + rest, as: UTF8.self)
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        #expect(text.contains("[interrupted]"))
        #expect(text.components(separatedBy: "ROMEO: ").count == 3, "two replies: \(text.suffix(300))")
        // The first reply is the interrupted one (it may span lines: a sampled reply can hold newlines).
        #expect(text.components(separatedBy: "ROMEO: ")[1].contains("[interrupted]"))
    }

    @Test("synth writes a file with the preset's shapes; unknown presets are a clear error")
    func synthShapes() throws {
        let inspect = try CLITests.run(["inspect", Self.model])
        #expect(inspect.out.contains("\"n_embd\":64") && inspect.out.contains("\"n_layer\":2") && inspect.out.contains("50257 tokens"))
        let bad = try CLITests.run(["synth", "--preset", "gpt5", "-o", "/tmp/never.safetensors"])
        #expect(bad.status != 0 && bad.err.contains("--preset gpt5"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/never.safetensors"))
    }

    @Test("bench prints a llama-bench table and the JSON keys tools rely on")
    func benchOutput() throws {
        let table = try CLITests.run(["bench", "-m", Self.model, "-p", "8", "-n", "4", "-t", "1,2", "-r", "1"])
        #expect(table.status == 0, "\(table.err)")
        #expect(table.out.contains("| model | size | threads | test | t/s |"))
        #expect(table.out.contains("| pp8 |") && table.out.contains("| tg4 |") && table.out.contains("peak RSS"))
        let json = try CLITests.run(["bench", "-m", Self.model, "-p", "8", "-n", "4", "-t", "1", "-r", "2", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        #expect(rows.count == 2)
        for row in rows {
            for key in ["test", "threads", "tokens_per_second", "stddev", "median", "peak_rss_bytes"] { #expect(row[key] != nil, "\(key)") }
        }
        #expect(rows.allSatisfy { $0["kv_cache"] as? String == "f16" }, "the default KV cache (f16, as llama.cpp) is reported")
        #expect(rows[1]["roofline_fraction"] != nil && rows[0]["roofline_fraction"] == nil)
        #expect(rows[1]["stream_fraction"] != nil && rows[0]["stream_fraction"] == nil)
        let probe = try #require(rows[1]["probe_bandwidth_bytes_per_second"] as? Double)
        let stream = try #require(rows[1]["stream_bandwidth_bytes_per_second"] as? Double)
        #expect(probe > 0 && stream > 0)
        // Prefill's fraction of the int8 dot-product peak, on every SIMD path (the scalar and
        // portable paths have no single instruction to measure).
        let kernel = try #require(rows[0]["kernel"] as? String)
        if kernel != "scalar" && kernel != "portable" {
            let fraction = try #require(rows[0]["compute_fraction"] as? Double, "pp rows report compute_fraction")
            let peak = try #require(rows[0]["compute_peak_macs_per_second"] as? Double)
            #expect(fraction > 0 && fraction < 1.5 && peak > 1e8, "\(fraction) of \(peak)")
        }
        #expect(rows[1]["compute_fraction"] == nil, "decode is measured against memory, not arithmetic")
        let bad = try CLITests.run(["bench", "-m", Self.model, "-t", "0"])
        #expect(bad.status != 0 && bad.err.contains("-t 0"))
    }

    @Test("bench -d measures after a context of that many tokens, several depths in turns, and refuses a depth past the context")
    func benchAtDepth() throws {
        let table = try CLITests.run(["bench", "-m", Self.model, "-p", "4", "-n", "4", "-d", "16", "-t", "1", "-r", "1"])
        #expect(table.status == 0, "\(table.err)")
        #expect(table.out.contains("| pp4 @ d16 |") && table.out.contains("| tg4 @ d16 |"))
        let json = try CLITests.run(["bench", "-m", Self.model, "-p", "0", "-n", "4", "-d", "16", "-t", "1", "-r", "1", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        #expect(rows.count == 1 && rows[0]["depth"] as? Int == 16 && rows[0]["test"] as? String == "tg4")
        let tooDeep = try CLITests.run(["bench", "-m", Self.model, "-p", "0", "-n", "4", "-d", "0,100000", "-r", "1"])
        #expect(tooDeep.status != 0 && tooDeep.err.contains("-d 100000") && tooDeep.err.contains("exceeds the model's context"), "\(tooDeep.err)")
        // Two depths: one row each, in the order given.
        let both = try CLITests.run(["bench", "-m", Self.model, "-p", "0", "-n", "3", "-d", "0,16", "-t", "1", "-r", "2", "--json"])
        let pairs = try #require(try JSONSerialization.jsonObject(with: Data(both.out.utf8)) as? [[String: Any]])
        #expect(pairs.map { $0["depth"] as? Int } == [0, 16] && pairs.allSatisfy { $0["test"] as? String == "tg3" })
        for bad in ["0,,16", "-1", "x"] {
            let refused = try CLITests.run(["bench", "-m", Self.model, "-d", bad])
            #expect(refused.status != 0 && refused.err.contains("-d"), "\(bad): \(refused.err)")
        }
    }

    @Test("bench --parallel runs the serving test: one row per level, its ratio to one sequence, TTFT; bad levels are refused")
    func benchParallel() throws {
        let json = try CLITests.run(["bench", "-m", Self.model, "--parallel", "1,3", "-p", "4", "-n", "6", "-t", "1", "-r", "2", "--json"])
        #expect(json.status == 0, "\(json.err)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["parallel"] as? Int } == [1, 3])
        #expect(rows.map { $0["requests"] as? Int } == [2, 6])
        for row in rows {
            let rate = try #require(row["aggregate_decode_tokens_per_second"] as? Double)
            let p50 = try #require(row["ttft_p50_seconds"] as? Double), p99 = try #require(row["ttft_p99_seconds"] as? Double)
            #expect(rate > 0 && p50 > 0 && p99 >= p50)
        }
        let table = try CLITests.run(["bench", "-m", Self.model, "--parallel", "1,2", "-p", "4", "-n", "4", "-t", "1", "-r", "1"])
        #expect(table.out.contains("| vs. 1 sequence | TTFT p50 | TTFT p99 |") && table.out.contains("| 1.00× |"), "\(table.out)")
        for (levels, fragment) in [("0", "--parallel 0 is invalid"), ("1,x", "--parallel 1,x is invalid"), ("1000", "--parallel 1000 is invalid")] {
            let bad = try CLITests.run(["bench", "-m", Self.model, "--parallel", levels])
            #expect(bad.status != 0 && bad.err.contains(fragment), "\(bad.err)")
        }
    }
}
