import Foundation
import Testing
@testable import TernaryConvert
@testable import TernaryFormat
@testable import TernaryKernels
@testable import TernaryModels

@Suite("q4 and q6: grouped formats for embeddings and heads")
struct GroupedFormatTests {
    static let lengths = [1, 31, 32, 33, 63, 64, 65, 100, 192, 1600, 2560]

    static func randomCodes(_ layout: GroupedLayout, rows: Int, k: Int, rng: inout SeededGenerator) -> (codes: [UInt8], packed: [UInt8], scales: [Float16]) {
        let padded = GroupedLayout.paddedLength(k), rowBytes = layout.rowBytes(k)
        var codes = [UInt8](repeating: UInt8(layout.offset), count: rows * padded)
        for r in 0..<rows { for i in 0..<k { codes[r * padded + i] = UInt8.random(in: 0...UInt8(layout.maxCode), using: &rng) } }
        var packed = [UInt8](repeating: 0, count: rows * rowBytes)
        codes.withUnsafeBufferPointer { c in
            packed.withUnsafeMutableBytes { p in
                for r in 0..<rows {
                    layout.packRow(UnsafeBufferPointer(rebasing: c[(r * padded)..<((r + 1) * padded)]),
                                   into: UnsafeMutableRawBufferPointer(rebasing: p[(r * rowBytes)..<((r + 1) * rowBytes)]))
                }
            }
        }
        let scales = (0..<(rows * GroupedLayout.groups(k))).map { _ in Float16(Float.random(in: -0.02...0.02, using: &rng)) }
        return (codes, packed, scales)
    }

    @Test("the layout is the documented one: byte 16h + j holds weights 32h + j and 32h + 16 + j; q6's top bits of 32h + 8m + i sit in bits 2m of byte 32 + 8h + i")
    func layoutIsDocumented() {
        var codes = [UInt8](repeating: 0, count: 128)
        codes[0] = 0x3  // group 0, j = 0: low nibble of byte 0
        codes[16] = 0xA  // high nibble of byte 0
        codes[32 + 5] = 0x7  // group 1, j = 5: low nibble of byte 16 + 5
        codes[64 + 31] = 0x2F  // second block, group 0, j = 31: high nibble of byte 32 + 15 (q4), top bits 2 in bits 6–7 of byte 48 + 32 + 7 (q6)
        codes[32 + 8 + 2] = 0x30  // group 1, m = 1, i = 2: q6 top bits 3 in bits 2–3 of byte 32 + 8 + 2
        var q4 = [UInt8](repeating: 0, count: 64), q6 = [UInt8](repeating: 0, count: 96)
        codes.map { $0 & 15 }.withUnsafeBufferPointer { c in q4.withUnsafeMutableBytes { GroupedLayout.q4.packRow(c, into: $0) } }
        codes.withUnsafeBufferPointer { c in q6.withUnsafeMutableBytes { GroupedLayout.q6.packRow(c, into: $0) } }
        #expect(q4[0] == 0xA3 && q4[21] == 0x07 && q4[32 + 15] == 0xF0)
        #expect(q6[0] == 0xA3 && q6[21] == 0x07 && q6[48 + 15] == 0xF0)
        #expect(q6[48 + 32 + 7] == 0b1000_0000 && q6[32 + 8 + 2] == 0b0000_1100)
        for layout in GroupedLayout.allCases {
            let bytes = layout == .q4 ? q4 : q6
            bytes.withUnsafeBytes { row in
                for i in 0..<128 { #expect(layout.code(at: i, of: row) == Int(layout == .q4 ? codes[i] & 15 : codes[i]), "\(layout) \(i)") }
            }
        }
    }

    @Test("a group's scale is its largest-magnitude weight / −offset in f16, codes round half to even, and every weight comes back within one step")
    func quantization() throws {
        // m = −2 (the largest magnitude): d = 0.25, so 1 → 4 + 8, 0.125 → 0.5 → 0 + 8 (even), 0.375 → 1.5 → 2 + 8.
        let (codes, d) = try #require(GroupedLayout.q4.quantizeGroup([1, -2, 0.125, 0.375]))
        #expect(d == 0.25 && Array(codes[0..<4]) == [12, 0, 8, 10] && codes[4...].allSatisfy { $0 == 8 })
        // m = +3 is positive: d is negative so that q = 0 (weight −offset·d) reaches it.
        let (codes6, d6) = try #require(GroupedLayout.q6.quantizeGroup([3, -1]))
        #expect(d6 == Float16(-3.0 / 32) && codes6[0] == 0 && codes6[1] == 32 + 11)
        #expect(GroupedLayout.q4.quantizeGroup([0, 0])!.scale.bitPattern == 0)  // +0, not −0
        #expect(GroupedLayout.q4.quantizeGroup([1e6]) == nil)  // 1e6 / 8 overflows f16
        var rng = SeededGenerator(seed: 31)
        for layout in GroupedLayout.allCases {
            let k = 100, w = (0..<(3 * k)).map { _ in Float.random(in: -1...1, using: &rng) }
            let (bytes, scales) = try #require(WeightQuantizer.groupedRows(w, rows: 3, k: k, layout: layout))
            #expect(bytes.count == 3 * layout.rowBytes(k) && scales.count == 3 * 4)
            bytes.withUnsafeBytes { raw in
                for r in 0..<3 {
                    let row = UnsafeRawBufferPointer(rebasing: raw[(r * layout.rowBytes(k))..<((r + 1) * layout.rowBytes(k))])
                    for i in 0..<128 {
                        let d = Float(scales[r * 4 + i / 32]), code = layout.code(at: i, of: row), value = d * Float(code - layout.offset)
                        guard i < k else { #expect(code == layout.offset); continue }
                        // Half a step, but a full one where the code is clamped (−m when m sets d).
                        let clamped = code == 0 || code == layout.maxCode
                        #expect(abs(value - w[r * k + i]) <= abs(d) * (clamped ? 1.0001 : 0.5001), "\(layout) row \(r) weight \(i)")
                    }
                }
            }
        }
    }

    @Test("every path's grouped GEMV agrees with the scalar reference (float rounding only), and the reference with the dequantized dot product")
    func gemvParity() {
        var rng = SeededGenerator(seed: 32)
        for layout in GroupedLayout.allCases {
            let scalar = TernaryKernels(isa: .scalar).groupedMatmul(for: layout)
            for k in Self.lengths {
                let rows = k > 1000 ? 5 : 19, groups = GroupedLayout.groups(k), rowBytes = layout.rowBytes(k)
                let (codes, packed, scales) = Self.randomCodes(layout, rows: rows, k: k, rng: &rng)
                var x = [Int8](repeating: 0, count: GroupedLayout.paddedLength(k))
                for i in 0..<k { x[i] = i % 7 == 0 ? (i % 2 == 0 ? 127 : -128) : Int8.random(in: -128...127, using: &rng) }  // the extremes too
                var reference = [Float](repeating: 0, count: rows)
                scalar.gemv(packed, rowBytes, rows, scales, groups, x, &reference)
                for r in 0..<rows {
                    var exact = 0.0, magnitude = 0.0
                    for g in 0..<groups {
                        var sum = 0
                        for i in (32 * g)..<(32 * g + 32) { sum += (Int(codes[r * x.count + i]) - layout.offset) * Int(x[i]) }
                        exact += Double(scales[r * groups + g]) * Double(sum)
                        magnitude += abs(Double(scales[r * groups + g]) * Double(sum))
                    }
                    #expect(abs(Double(reference[r]) - exact) <= 1e-6 * magnitude + 1e-6, "\(layout) k=\(k) row \(r): \(reference[r]) vs \(exact)")
                    for isa in KernelISA.available {
                        let matmul = TernaryKernels(isa: isa).groupedMatmul(for: layout)
                        var out = [Float](repeating: .nan, count: rows)
                        matmul.gemv(packed, rowBytes, rows, scales, groups, x, &out)
                        #expect(abs(Double(out[r]) - exact) <= 1e-6 * magnitude + 1e-6, "\(layout) \(isa) (\(matmul.implementation)) k=\(k) row \(r): \(out[r]) vs \(exact)")
                    }
                }
            }
        }
    }

    static func synth(_ embeddings: WeightFormat) throws -> String {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("model.safetensors").path
        let preset = Synthesizer.Preset(name: "t", architecture: "gpt2", config: .object([
            ("n_layer", .int(1)), ("n_embd", .int(96)), ("n_head", .int(4)), ("n_positions", .int(64)), ("vocab_size", .int(300)),
        ]))
        try Synthesizer.write(preset: preset, embeddings: embeddings, weights: .ternary, seed: 5, output: path)
        return path
    }

    /// `path` rewritten with its metadata changed by `edit` and its tensors by `bytes`.
    static func rewrite(_ path: String, metadata edit: (inout [String: String]) -> Void = { _ in },
                        bytes: (String, inout [UInt8]) -> Void = { _, _ in }) throws -> String {
        let file = try SafetensorsFile(path: path)
        var metadata = file.metadata
        edit(&metadata)
        let tensors = file.tensorNames.map { n -> OutputTensor in
            let t = file.tensors[n]!
            var b = Array(t.data)
            bytes(n, &b)
            return OutputTensor(name: n, dtype: t.dtype, shape: t.shape, bytes: b)
        }
        let out = TestPaths.temporaryDirectory().appendingPathComponent("edited.safetensors").path
        try SafetensorsWriter.write(to: out, metadata: metadata, tensors: tensors)
        return out
    }

    @Test("a model with a q4 or q6 head names the format in matrix_formats, loads, and its logits follow the int8 head's closely", arguments: ["q4", "q6"])
    func modelRuns(_ name: String) throws {
        let format = try #require(WeightFormat(rawValue: name))
        let path = try Self.synth(format), baseline = try Self.synth(.f32)
        let file = try PackedModelFile(path: path)
        #expect(file.matrixFormats?["wte"] == format && file.matrixFormats?["h.0.attn.c_attn"] == .ternary)
        #expect(file.file.tensors["wte.group_scale"]?.dtype == .f16)
        let ids = [5, 17, 99, 3, 42]
        let model = try ModelRegistry.load(path: path, isa: .best), reference = try ModelRegistry.load(path: baseline, isa: .best)
        let context = InferenceContext(threads: 2, microBatch: 4)
        let got = try model.forward(ids, memory: model.makeMemory(MemoryOptions()), context: context, allLogits: false)
        let want = try reference.forward(ids, memory: reference.makeMemory(MemoryOptions()), context: context, allLogits: false)
        // The same random model with float embeddings: a 4-bit (6-bit) head and lookup move the logits
        // by a few per cent of their spread, not more.
        let spread = want.max()! - want.min()!
        let error = zip(got, want).map { abs($0 - $1) }.max()!
        #expect(error < (format == .q4 ? 0.15 : 0.03) * spread, "largest logit difference \(error) of a spread \(spread)")
        // Every path gives the same logits up to float rounding.
        for isa in KernelISA.available {
            let other = try ModelRegistry.load(path: path, isa: isa)
            let logits = try other.forward(ids, memory: other.makeMemory(MemoryOptions()), context: context, allLogits: false)
            #expect(zip(logits, got).allSatisfy { abs($0 - $1) <= 1e-4 * spread }, "\(isa)")
        }
    }

    @Test("matrix_formats naming an unknown format, leaving a matrix out, naming a stray matrix, or disagreeing with the dtype is refused with the key and matrix")
    func badMatrixFormats() throws {
        let path = try Self.synth(.q4)
        let cases: [(edit: (inout [String: String]) -> Void, expected: String)] = [
            ({ $0["matrix_formats"] = $0["matrix_formats"]!.replacingOccurrences(of: "\"wte\":\"q4\"", with: "\"wte\":\"q3\"") },
             "matrix 'wte' has the format \"q3\", which this engine does not know"),
            ({ $0["matrix_formats"] = $0["matrix_formats"]!.replacingOccurrences(of: ",\"wte\":\"q4\"", with: "") }, "names no format for the matrix 'wte'"),
            ({ $0["matrix_formats"] = $0["matrix_formats"]!.replacingOccurrences(of: "\"wte\":\"q4\"", with: "\"wte\":\"q4\",\"xyz\":\"q4\"") },
             "names a format for 'xyz'"),
            ({ $0["matrix_formats"] = $0["matrix_formats"]!.replacingOccurrences(of: "\"wte\":\"q4\"", with: "\"wte\":\"int8\"") }, "wte.weight"),
            ({ $0["matrix_formats"] = "{\"wte\": \"q4\"}" }, "matrix_formats"),
        ]
        for (edit, expected) in cases {
            let bad = try Self.rewrite(path, metadata: edit)
            #expect(throws: (any Error).self) { _ = try ModelRegistry.load(path: bad, isa: .best) }
            do { _ = try ModelRegistry.load(path: bad, isa: .best) } catch { #expect("\(error)".contains(expected), "\(error)") }
        }
    }

    @Test("a grouped matrix with a nonzero weight in a row's padding, or a NaN scale, is refused naming the tensor")
    func corruptValues() throws {
        let path = try Self.synth(.q6)  // k = 96: weights 96…127 of each row are padding
        let padding = try Self.rewrite(path, bytes: { name, bytes in if name == "wte.weight" { bytes[48 + 16] = 0x11 } })  // weights 96 and 112 of row 0
        do {
            _ = try ModelRegistry.load(path: padding, isa: .best)
            Issue.record("nonzero padding loaded")
        } catch { #expect("\(error)".contains("wte.weight") && "\(error)".contains("row 0 has a nonzero weight in its padding"), "\(error)") }
        let nan = try Self.rewrite(path, bytes: { name, bytes in if name == "wte.group_scale" { bytes[2] = 0x00; bytes[3] = 0x7E } })
        do {
            _ = try ModelRegistry.load(path: nan, isa: .best)
            Issue.record("a NaN scale loaded")
        } catch { #expect("\(error)".contains("wte.group_scale"), "\(error)") }
    }

    @Test("a file without matrix_formats (written before the key) still loads by its dtypes")
    func olderFilesLoad() throws {
        let path = try Self.synth(.int8)
        let old = try Self.rewrite(path, metadata: { $0["matrix_formats"] = nil })
        let a = try ModelRegistry.load(path: path, isa: .best), b = try ModelRegistry.load(path: old, isa: .best)
        let context = InferenceContext(threads: 1)
        #expect(try a.forward([1, 2, 3], memory: a.makeMemory(MemoryOptions()), context: context, allLogits: false)
                == b.forward([1, 2, 3], memory: b.makeMemory(MemoryOptions()), context: context, allLogits: false))
    }
}

extension GroupedFormatTests {
    @Test("a q4 head exports to GGUF as Q4_0 and a q6 one as Q8_0, and packing that GGUF again gives back the same bytes", arguments: ["q4", "q6"])
    func ggufRoundTrip(_ name: String) throws {
        let format = try #require(WeightFormat(rawValue: name))
        let packed = TestPaths.temporaryDirectory().appendingPathComponent("model.safetensors").path
        try Synthesizer.write(preset: Synthesizer.llama("t", architecture: "llama", layers: 1, width: 96, ffn: 256, heads: 4, kvHeads: 2, vocabulary: 300,
                                                        context: 64, theta: 10_000, activation: "silu", tied: true),
                              embeddings: format, weights: .ternary, seed: 9, output: packed)
        let gguf = packed + ".gguf", again = packed + ".again.safetensors"
        _ = try GGUFExporter.export(packed: packed, output: gguf, ternary: .tq2_0, withTokenizer: false)
        let exported = try GGUFFile(path: gguf)
        #expect(exported.tensors.first { $0.name == "token_embd.weight" }?.type == (format == .q4 ? GGUFTensorType.q4_0 : .q8_0).rawValue)
        var options = PackOptions()
        options.embeddings = format
        options.withoutTokenizer = true
        _ = try Packer.pack(input: gguf, output: again, options: options)
        let a = try SafetensorsFile(path: packed), b = try SafetensorsFile(path: again)
        for tensor in ["embed_tokens.weight", "embed_tokens.group_scale"] {
            #expect(Array(try #require(a.tensors[tensor]).data) == Array(try #require(b.tensors[tensor]).data), "\(tensor)")
        }
    }
}
