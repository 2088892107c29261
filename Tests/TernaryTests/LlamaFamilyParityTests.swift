import Foundation
import Testing
@testable import TernaryConvert
@testable import TernaryFormat
@testable import TernaryGeneration
@testable import TernaryKernels
@testable import TernaryModels

/// The Swift forward of the Llama-family architectures against ternary_qat.reference_llama (itself
/// checked against transformers' BitNetForCausalLM / AutoBitLinear and the patched LlamaForCausalLM
/// in the Python tests), on two tiny random models (python/scripts/make_swift_fixtures.py):
///
/// - bitnet-tiny: HF BitNet's packed deployment form (uint8 weights + weight_scale), 6 query heads
///   over 2 KV heads, relu2, attention and FFN sub-norms, tied embeddings;
/// - llama-tiny: a LlamaForCausalLM patched and exported by ternary_qat, with a BitLinear RMSNorm
///   before every linear layer, GQA 4/2, SiLU, untied head.
///
/// Tolerance: |Δlogit| ≤ 1e-4 · max(1, max|logit|), for float32 op order in norms, RoPE, softmax and
/// the float head; ternary matmuls are exact integers and the fixture's ids keep every activation
/// at least 2e-5 from a rounding tie.
@Suite("Llama and BitNet parity with PyTorch")
struct LlamaFamilyParityTests {
    static let fixtures = ["bitnet-tiny", "llama-tiny"]

    static func expected(_ fixture: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: TestPaths.fixtures.appendingPathComponent("\(fixture)/expected.safetensors").path)
    }

    static func ints(_ file: SafetensorsFile, _ name: String) throws -> [Int] {
        try file.tensor(name, dtypes: [.i32]).data.bindMemory(to: Int32.self).map(Int.init)
    }

    static func floats(_ file: SafetensorsFile, _ name: String) throws -> [Float] {
        Array(try file.tensor(name, dtypes: [.f32]).data.bindMemory(to: Float.self))
    }

    static func packed(_ fixture: String, embeddings: WeightFormat = .f16) throws -> String {
        let out = TestPaths.temporaryDirectory().appendingPathComponent("\(fixture).safetensors").path
        var options = PackOptions()
        options.embeddings = embeddings
        options.withoutTokenizer = true
        _ = try Packer.pack(directory: TestPaths.fixtures.appendingPathComponent(fixture).path, output: out, options: options)
        return out
    }

    static func load(_ path: String, isa: KernelISA = .best, threads: Int = 2, kv: KVPrecision = .f32, microBatch: Int = 128) throws -> ModelRunner {
        ModelRunner(model: try ModelRegistry.load(path: path, isa: isa), context: InferenceContext(threads: threads, microBatch: microBatch),
                    memoryOptions: MemoryOptions(kvPrecision: kv))
    }

    @Test("logits match the PyTorch reference on every kernel path", arguments: fixtures)
    func logitsMatch(_ fixture: String) throws {
        try ReferenceChecks.logits(fixture, expected: try Self.expected(fixture), path: try Self.packed(fixture))
    }

    @Test("32 greedy tokens are identical to PyTorch's", arguments: fixtures)
    func greedyTokens(_ fixture: String) throws {
        try ReferenceChecks.greedyTokens(expected: try Self.expected(fixture), path: try Self.packed(fixture))
    }

    @Test("perplexity equals PyTorch's within 1e-3 relative", arguments: fixtures)
    func perplexityMatches(_ fixture: String) throws {
        // The runner's f32 KV cache: exact attention, as PyTorch computes it.
        try ReferenceChecks.perplexity(expected: try Self.expected(fixture), path: try Self.packed(fixture))
    }

    @Test("prefill in one batch, in micro-batches, and token by token through the cache agree exactly, f32 and f16 cache",
          arguments: fixtures)
    func incremental(_ fixture: String) throws {
        let path = try Self.packed(fixture)
        let ids = try Self.ints(try Self.expected(fixture), "ids")
        for kv in [KVPrecision.f32, .f16] {
            let model = try Self.load(path, kv: kv)
            let batched = try model.forward(ids, memory: model.makeMemory(), allLogits: true)
            let memory = model.makeMemory()
            var incremental: [Float] = []
            for id in ids { incremental += try model.forward([id], memory: memory, allLogits: false) }
            #expect(ModelParityTests.firstMismatch(incremental, batched, tolerance: 0) == nil, "\(kv)")
            let small = try Self.load(path, kv: kv, microBatch: 5)
            #expect(ModelParityTests.firstMismatch(try small.forward(ids, memory: small.makeMemory(), allLogits: true), batched, tolerance: 0) == nil,
                    "\(kv), micro-batch 5")
        }
    }

    @Test("several sequences in one forward give each exactly the logits it gets alone (f16 cache, as served)", arguments: fixtures)
    func batchedSequences(_ fixture: String) throws {
        let model = try Self.load(try Self.packed(fixture), kv: .f16, microBatch: 16)
        let ids = try Self.ints(try Self.expected(fixture), "ids")
        let prompts = [Array(ids[0..<7]), Array(ids[7..<30]), Array(ids[30..<31])]
        // Alone: prefill, then two decode steps.
        var alone: [[Float]] = []
        for prompt in prompts {
            let memory = model.makeMemory()
            var rows = try model.forward(prompt, memory: memory, allLogits: true)
            rows += try model.forward([prompt[0]], memory: memory, allLogits: false)
            rows += try model.forward([prompt.last!], memory: memory, allLogits: false)
            alone.append(rows)
        }
        // Together: one batched prefill (30 tokens over micro-batches of 16), then batched decodes.
        let memories = prompts.map { _ in model.makeMemory() }
        let v = model.vocabularySize
        let out = prompts.map { UnsafeMutablePointer<Float>.allocate(capacity: ($0.count + 2) * v) }
        defer { out.forEach { $0.deallocate() } }
        try model.model.forward((0..<3).map { ForwardStep(tokens: prompts[$0], memory: memories[$0], logits: .all, output: out[$0]) },
                                context: model.context)
        try model.model.forward((0..<3).map { ForwardStep(tokens: [prompts[$0][0]], memory: memories[$0], output: out[$0] + prompts[$0].count * v) },
                                context: model.context)
        try model.model.forward((0..<3).map { ForwardStep(tokens: [prompts[$0].last!], memory: memories[$0], output: out[$0] + (prompts[$0].count + 1) * v) },
                                context: model.context)
        let outputs = (0..<3).map { Array(UnsafeBufferPointer(start: out[$0], count: (prompts[$0].count + 2) * v)) }
        for i in 0..<3 {
            #expect(memories[i].length == prompts[i].count + 2)
            #expect(ModelParityTests.firstMismatch(outputs[i], alone[i], tolerance: 0) == nil, "sequence \(i)")
        }
    }

    @Test("two contexts run one loaded model from two threads at once with the results of one")
    func concurrentContexts() async throws {
        let path = try Self.packed("bitnet-tiny")
        let model = try ModelRegistry.load(path: path)
        let ids = try Self.ints(try Self.expected("bitnet-tiny"), "ids")
        let reference = try model.forward(ids, memory: model.makeMemory(), context: InferenceContext(threads: 1), allLogits: true)
        let results = try await withThrowingTaskGroup(of: [Float].self) { group in
            for _ in 0..<2 {
                group.addTask {
                    let context = InferenceContext(threads: 1)
                    var last: [Float] = []
                    for _ in 0..<20 { last = try model.forward(ids, memory: model.makeMemory(), context: context, allLogits: true) }
                    return last
                }
            }
            return try await group.reduce(into: [[Float]]()) { $0.append($1) }
        }
        for result in results { #expect(result == reference) }
    }

    @Test("a memory from another model, or one memory in two steps, is an error")
    func memoryMisuse() throws {
        let bitnet = try Self.load(try Self.packed("bitnet-tiny")), llama = try Self.load(try Self.packed("llama-tiny"))
        #expect(throws: ModelError.self) { try bitnet.forward([1], memory: llama.makeMemory(), allLogits: false) }
        let memory = bitnet.makeMemory()
        var out = [Float](repeating: 0, count: 2 * bitnet.vocabularySize)
        try out.withUnsafeMutableBufferPointer { buffer in
            #expect(throws: ModelError.self) {
                try bitnet.model.forward([ForwardStep(tokens: [1], memory: memory, output: buffer.baseAddress!),
                                          ForwardStep(tokens: [2], memory: memory, output: buffer.baseAddress! + bitnet.vocabularySize)],
                                         context: bitnet.context)
            }
        }
        #expect(memory.length == 0, "a refused call changes no memory")
    }
}

/// What every architecture's parity suite checks against its PyTorch fixture: logits on every
/// kernel path, 32 greedy tokens, perplexity.
enum ReferenceChecks {
    static func logits(_ fixture: String, expected: SafetensorsFile, path: String) throws {
        let ids = try LlamaFamilyParityTests.ints(expected, "ids"), want = try LlamaFamilyParityTests.floats(expected, "logits_f16")
        for isa in KernelISA.available {
            let model = try LlamaFamilyParityTests.load(path, isa: isa)
            let got = try model.forward(ids, memory: model.makeMemory(), allLogits: true)
            #expect(got.count == want.count)
            if let bad = ModelParityTests.firstMismatch(got, want) {
                Issue.record("\(fixture) \(isa): first mismatch at token \(bad.index / model.vocabularySize), vocab \(bad.index % model.vocabularySize): \(bad.got) vs \(bad.want)")
            }
        }
    }

    static func greedyTokens(expected: SafetensorsFile, path: String) throws {
        let model = try LlamaFamilyParityTests.load(path)
        let memory = model.makeMemory()
        var logits = try model.forward(try LlamaFamilyParityTests.ints(expected, "greedy_prompt"), memory: memory, allLogits: false)
        var tokens: [Int] = []
        for _ in 0..<32 {
            let next = Sampler.argmax(logits)
            tokens.append(next)
            logits = try model.forward([next], memory: memory, allLogits: false)
        }
        #expect(tokens == (try LlamaFamilyParityTests.ints(expected, "greedy_tokens")))
    }

    static func perplexity(expected: SafetensorsFile, path: String) throws {
        let model = try LlamaFamilyParityTests.load(path)
        let result = try PerplexityEvaluator.evaluate(model: model.model, context: model.context, memoryOptions: model.memoryOptions,
                                                      tokens: try LlamaFamilyParityTests.ints(expected, "ppl_ids"),
                                                      contextSize: Int(expected.metadata["ppl_ctx"]!)!)
        let want = Double(expected.metadata["ppl"]!)!
        #expect(result.tokensScored == Int(expected.metadata["tokens_scored"]!)!)
        #expect(abs(result.perplexity - want) / want < 1e-3, "\(result.perplexity) vs \(want)")
    }
}
