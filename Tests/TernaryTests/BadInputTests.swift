import Foundation
import Testing
@testable import TernaryConvert
@testable import TernaryFormat
@testable import TernaryKernels
@testable import TernaryModels

/// Every kind of bad file gives a specific, typed error — never a crash.
@Suite("Bad input")
struct BadInputTests {
    static let goodPath: String = try! ModelParityTests.packed(.f16)
    static let goodBytes = [UInt8](FileManager.default.contents(atPath: goodPath)!)

    static func write(_ bytes: [UInt8]) -> String {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("bad.safetensors").path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// A file whose header is `json` (padded) followed by `dataBytes` zero bytes.
    static func file(header json: String, dataBytes: Int) -> String {
        var header = Array(json.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) }
        bytes += header
        bytes += [UInt8](repeating: 0, count: dataBytes)
        return write(bytes)
    }

    /// The good file with its header JSON transformed.
    static func editedHeader(_ edit: (inout [String: Any]) -> Void) -> String {
        let length = Int(goodBytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = try! JSONSerialization.jsonObject(with: Data(goodBytes[8..<(8 + length)])) as! [String: Any]
        edit(&header)
        let json = String(decoding: try! JSONSerialization.data(withJSONObject: header), as: UTF8.self)
        var h = Array(json.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        return write(withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) } + h + goodBytes[(8 + length)...])
    }

    /// The good file with its `__metadata__` transformed.
    static func editedMetadata(_ edit: (inout [String: String]) -> Void) -> String {
        editedHeader { h in
            var m = h["__metadata__"] as! [String: String]
            edit(&m)
            h["__metadata__"] = m
        }
    }

    static func loadError(_ path: String) -> String? {
        do {
            _ = try ModelRegistry.load(path: path)
            return nil
        } catch {
            return "\(error)"
        }
    }

    static func expectError(_ path: String, contains fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let message = loadError(path) else {
            Issue.record("loading succeeded; expected an error mentioning '\(fragment)'", sourceLocation: sourceLocation)
            return
        }
        #expect(message.contains(fragment), "message was: \(message)", sourceLocation: sourceLocation)
    }

    @Test("an empty file") func emptyFile() { Self.expectError(Self.write([]), contains: "is empty") }

    @Test("a directory instead of a file") func directory() {
        Self.expectError(TestPaths.temporaryDirectory().path, contains: "is a directory")
    }

    @Test("a missing file") func missingFile() { Self.expectError("/nonexistent/model.safetensors", contains: "cannot open") }

    @Test("a file shorter than the 8-byte header length") func tinyFile() {
        Self.expectError(Self.write([1, 2, 3]), contains: "truncated")
    }

    @Test("a header length past the end of the file") func headerPastEnd() {
        var bytes = Self.goodBytes
        bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Array($0) })
        Self.expectError(Self.write(bytes), contains: "its header claims")
    }

    @Test("a truncated file: tensors end past the data") func truncated() {
        Self.expectError(Self.write(Array(Self.goodBytes.prefix(Self.goodBytes.count - 100))), contains: "ends at byte")
    }

    @Test("malformed header JSON") func malformedJSON() {
        Self.expectError(Self.file(header: "{\"a\": [1, 2", dataBytes: 0), contains: "not valid JSON")
    }

    @Test("malformed metadata JSON (config)") func malformedMetadata() {
        let path = Self.editedMetadata { m in m["config"] = "{not json" }
        Self.expectError(path, contains: "metadata 'config' is invalid")
    }

    @Test("offsets out of range") func offsetsOutOfRange() {
        Self.expectError(Self.file(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 8), contains: "ends at byte 16")
    }

    @Test("overlapping tensors") func overlapping() {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#
        Self.expectError(Self.file(header: header, dataBytes: 24), contains: "overlap")
    }

    @Test("byte count that disagrees with the shape") func shapeBytes() {
        Self.expectError(Self.file(header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, dataBytes: 16), contains: "byte count")
    }

    @Test("an unknown dtype") func unknownDType() {
        Self.expectError(Self.file(header: #"{"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}}"#, dataBytes: 1), contains: "unknown or missing dtype")
    }

    @Test("a safetensors file that is not a packed model") func plainSafetensors() {
        Self.expectError(Self.file(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4), contains: "not a packed ternary model")
    }

    @Test("a wrong dtype for a tensor") func wrongDType() {
        let path = Self.editedHeader { h in
            var t = h["h.0.ln_1.weight"] as! [String: Any]
            t["dtype"] = "I32"
            h["h.0.ln_1.weight"] = t
        }
        Self.expectError(path, contains: "h.0.ln_1.weight' has dtype I32, expected F32")
    }

    @Test("a shape that disagrees with the config") func shapeVersusConfig() {
        let path = Self.editedMetadata { m in m["config"] = m["config"]!.replacingOccurrences(of: "\"n_inner\":320", with: "\"n_inner\":384") }
        Self.expectError(path, contains: "the config implies")
    }

    /// The good file rewritten without one tensor (a coherent file, not just an edited header).
    static func without(_ name: String) throws -> String {
        let good = try SafetensorsFile(path: goodPath)
        let tensors = good.tensorNames.filter { $0 != name }.map { n in
            let t = good.tensors[n]!
            return OutputTensor(name: n, dtype: t.dtype, shape: t.shape, bytes: Array(t.data))
        }
        let path = TestPaths.temporaryDirectory().appendingPathComponent("without.safetensors").path
        try SafetensorsWriter.write(to: path, metadata: good.metadata, tensors: tensors)
        return path
    }

    @Test("a missing tensor") func missingTensor() throws {
        Self.expectError(try Self.without("ln_f.bias"), contains: "lacks tensor 'ln_f.bias'")
    }

    @Test("bytes that belong to no tensor (a header entry removed)") func orphanBytes() {
        let path = Self.editedHeader { h in h.removeValue(forKey: "ln_f.bias") }
        Self.expectError(path, contains: "belong to no tensor")
    }

    @Test("a zero-length tensor between two overlapping ones does not hide the overlap") func emptyTensorOverlap() {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"z":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},"# +
            #""b":{"dtype":"F32","shape":[4],"data_offsets":[12,28]}}"#
        Self.expectError(Self.file(header: header, dataBytes: 28), contains: "overlap")
    }

    @Test("a shape or offset written as a float is refused, as safetensors does") func floatShape() {
        Self.expectError(Self.file(header: #"{"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, dataBytes: 4), contains: "shape must be an array of non-negative integers")
        Self.expectError(Self.file(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}"#, dataBytes: 4), contains: "data_offsets must be")
    }

    @Test("a key that appears twice in the header is refused") func duplicateHeaderKey() {
        let header = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        Self.expectError(Self.file(header: header, dataBytes: 4), contains: "duplicate key \"w\"")
    }

    @Test("a tensor the architecture does not have") func strayTensor() throws {
        let good = try SafetensorsFile(path: Self.goodPath)
        var tensors = good.tensorNames.map { n in
            let t = good.tensors[n]!
            return OutputTensor(name: n, dtype: t.dtype, shape: t.shape, bytes: Array(t.data))
        }
        tensors.append(OutputTensor(name: "h.0.attn.rotary.inv_freq", dtype: .f32, shape: [2], values: [Float(1), 2]))
        let path = TestPaths.temporaryDirectory().appendingPathComponent("stray.safetensors").path
        try SafetensorsWriter.write(to: path, metadata: good.metadata, tensors: tensors)
        Self.expectError(path, contains: "'h.0.attn.rotary.inv_freq' has a bad header entry: architecture 'gpt2' has no such tensor")
    }

    @Test("an unknown architecture") func unknownArchitecture() {
        let path = Self.editedMetadata { m in m["architecture"] = "transformer-xl" }
        Self.expectError(path, contains: "architecture 'transformer-xl'")
    }

    @Test("a format version from the future") func futureVersion() {
        let path = Self.editedMetadata { m in m["format_version"] = "99" }
        Self.expectError(path, contains: "format version 99")
    }

    @Test("n_embd not divisible by n_head") func badHeads() {
        let path = Self.editedMetadata { m in m["config"] = m["config"]!.replacingOccurrences(of: "\"n_head\":4", with: "\"n_head\":3") }
        Self.expectError(path, contains: "divisible by n_head")
    }

    @Test("the packer rejects a directory without config.json and a missing directory") func packerErrors() {
        var options = PackOptions()
        options.withoutTokenizer = true
        let out = TestPaths.temporaryDirectory().appendingPathComponent("x.safetensors").path
        #expect(throws: ConvertError.self) { try Packer.pack(directory: TestPaths.temporaryDirectory().path, output: out, options: options) }
        #expect(throws: ConvertError.self) { try Packer.pack(directory: "/nonexistent", output: out, options: options) }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test("a failed pack leaves no output and no partial file behind") func noPartialOutput() throws {
        let dir = TestPaths.temporaryDirectory()
        let hf = dir.appendingPathComponent("hf")
        try FileManager.default.copyItem(at: TestPaths.fixtures.appendingPathComponent("gpt2-tiny"), to: hf)
        // Corrupt the weights: cut the file short.
        let weights = hf.appendingPathComponent("model.safetensors")
        let data = try Data(contentsOf: weights)
        try data.prefix(data.count / 2).write(to: weights)
        var options = PackOptions()
        options.withoutTokenizer = true
        let out = dir.appendingPathComponent("out.safetensors").path
        #expect(throws: FormatError.self) { try Packer.pack(directory: hf.path, output: out, options: options) }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(left.sorted() == ["hf"])
    }
}
