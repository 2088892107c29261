import TernaryFormat

/// A BitMamba-2 model file as bitmamba.c / bitmamba.cpp read it ("BIT2"), under Hugging Face's
/// Mamba-2 names with the `bitmamba` block. Header: five int32 — the magic 0x42495432, vocab_size,
/// d_model, n_layers, n_heads. Then the tensors in a fixed order: the embeddings; per layer
/// in_proj's norm and weight, the convolution's weight and bias, dt_bias, A_log, D, out_proj's norm
/// and weight; the final norm, the head's norm and weight. Each tensor starts with an int32 kind:
/// 0, float32 (int32 ndim, int32 dims, the values); 2, ternary (int32 rows, int32 cols, float32 s,
/// rows·cols/4 bytes, four codes per byte from the low bits, code = w + 1, row-major), whose values
/// are code · (1 / s). Fixed by the architecture: expand 2, convolution 4, B and C one value per
/// head (n_groups = num_heads, state_size 1), RMSNorm epsilon 1e-6.
public final class BitMambaCheckpoint: TensorSource {
    public static let magic: UInt32 = 0x4249_5432

    public let path: String
    /// The config as a Hugging Face Mamba-2 config.json would write it.
    public let config: JSONValue
    private enum Stored { case float(offset: Int, shape: [Int]), ternary(offset: Int, rows: Int, cols: Int, scale: Float) }
    private let tensors: [String: Stored]
    private let order: [String]
    private let mapping: MappedFile
    private var consumed = Set<String>()

    public static func isBitMamba(path: String) -> Bool {
        guard let file = try? MappedFile(path: path), file.bytes.count >= 4 else { return false }
        return file.bytes.loadUnaligned(as: UInt32.self) == UInt32(littleEndian: magic)
    }

    public init(path: String) throws {
        mapping = try MappedFile(path: path)
        self.path = path
        let bytes = mapping.bytes
        func bad(_ reason: String) -> ConvertError { .badConfig(path: path, reason: "not a BitMamba-2 (BIT2) file: \(reason)") }
        var offset = 0
        func int32(_ what: String) throws -> Int {
            guard bytes.count - offset >= 4 else { throw bad("it ends inside \(what) (byte \(offset) of \(bytes.count)); it is truncated") }
            defer { offset += 4 }
            return Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
        }
        guard try UInt32(truncatingIfNeeded: int32("the magic")) == Self.magic else { throw bad("it does not start with BIT2") }
        let vocab = try int32("vocab_size"), width = try int32("d_model"), layers = try int32("n_layers"), heads = try int32("n_heads")
        for (value, name, limit) in [(vocab, "vocab_size", 1 << 22), (width, "d_model", 1 << 16), (layers, "n_layers", 1024), (heads, "n_heads", 4096)]
            where value < 1 || value > limit {
            throw bad("\(name) = \(value) is outside 1...\(limit)")
        }
        guard (2 * width) % heads == 0 else { throw bad("n_heads \(heads) does not divide the inner width \(2 * width)") }
        var names = ["embeddings.weight"]
        for i in 0..<layers {
            let p = "layers.\(i).mixer."
            names += ["in_proj.norm.weight", "in_proj.weight", "conv1d.weight", "conv1d.bias", "dt_bias", "A_log", "D",
                      "out_proj.norm.weight", "out_proj.weight"].map { p + $0 }
        }
        names += ["norm_f.weight", "lm_head.norm.weight", "lm_head.weight"]
        var table: [String: Stored] = [:]
        for name in names {
            switch try int32("the kind of \(name)") {
            case 0:
                let dimensions = try int32("the rank of \(name)")
                guard (1...4).contains(dimensions) else { throw bad("\(name) has \(dimensions) dimensions") }
                var shape: [Int] = []
                for _ in 0..<dimensions {
                    let d = try int32("a dimension of \(name)")
                    guard d >= 1, d <= 1 << 24 else { throw bad("\(name) has a dimension of \(d)") }
                    shape.append(d)
                }
                let count = shape.reduce(1, *)
                guard count <= (bytes.count - offset) / 4 else { throw bad("\(name) needs \(4 * count) bytes but \(bytes.count - offset) are left; it is truncated") }
                table[name] = .float(offset: offset, shape: shape)
                offset += 4 * count
            case 2:
                let rows = try int32("the rows of \(name)"), cols = try int32("the columns of \(name)")
                guard rows >= 1, cols >= 4, cols % 4 == 0, rows <= 1 << 24, cols <= 1 << 24 else { throw bad("\(name) is \(rows) × \(cols)") }
                guard bytes.count - offset >= 4 else { throw bad("it ends inside the scale of \(name)") }
                let scale = bytes.loadUnaligned(fromByteOffset: offset, as: Float.self)
                offset += 4
                guard scale.isFinite, scale > 0 else { throw ConvertError.nonFinite(tensor: "\(name) (its scale \(scale))") }
                guard rows * cols / 4 <= bytes.count - offset else { throw bad("\(name) needs \(rows * cols / 4) bytes but \(bytes.count - offset) are left; it is truncated") }
                table[name] = .ternary(offset: offset, rows: rows, cols: cols, scale: scale)
                offset += rows * cols / 4
            case let kind:
                throw bad("\(name) has the kind \(kind) (0 float32 and 2 ternary are the two there are)")
            }
        }
        guard offset == bytes.count else { throw bad("\(bytes.count - offset) bytes follow the last tensor") }
        tensors = table
        order = names
        let inner = 2 * width
        config = .object([
            ("model_type", .string("mamba2")), ("bitmamba", .bool(true)), ("vocab_size", .int(vocab)), ("hidden_size", .int(width)),
            ("num_hidden_layers", .int(layers)), ("num_heads", .int(heads)), ("head_dim", .int(inner / heads)), ("state_size", .int(1)),
            ("n_groups", .int(heads)), ("expand", .int(2)), ("conv_kernel", .int(4)), ("use_bias", .bool(false)),
            ("use_conv_bias", .bool(true)), ("layer_norm_epsilon", .double(1e-6)), ("tie_word_embeddings", .bool(false)),
        ])
    }

    public var tensorNames: [String] { order }
    public func contains(_ name: String) -> Bool { tensors[name] != nil }
    public func unusedTensorNames() -> [String] { order.filter { !consumed.contains($0) } }

    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        guard case let .float(offset, stored)? = tensors[name] else {
            throw tensors[name] == nil ? FormatError.missingTensor(path: path, tensor: name)
                : ConvertError.badConfig(path: path, reason: "\(name) is ternary where the model needs float values")
        }
        // Size-1 dimensions do not matter (the convolution is stored (channels, 1, width)).
        guard stored.filter({ $0 != 1 }) == shape.filter({ $0 != 1 }) else {
            throw FormatError.wrongShape(path: path, tensor: name, expected: shape, found: stored)
        }
        consumed.insert(name)
        return (0..<stored.reduce(1, *)).map { mapping.bytes.loadUnaligned(fromByteOffset: offset + 4 * $0, as: Float.self) }
    }

    public func matrix(_ name: String, rows: Int, k: Int, transposed: Bool) throws -> SourceMatrix {
        guard case let .ternary(offset, storedRows, cols, scale)? = tensors[name] else { return .float(try floats(name, shape: [rows, k])) }
        guard storedRows == rows, cols == k else { throw FormatError.wrongShape(path: path, tensor: name, expected: [rows, k], found: [storedRows, cols]) }
        consumed.insert(name)
        var codes = [Int8](repeating: 0, count: rows * k)
        for i in 0..<(rows * k) {
            let code = (mapping.bytes[offset + i / 4] >> UInt8(2 * (i % 4))) & 3
            guard code != 3 else { throw FormatError.corruptValues(path: path, tensor: name, reason: "element \(i) holds the code 3, which is no ternary value") }
            codes[i] = Int8(code) - 1
        }
        return .ternary(codes: codes, scale: 1 / scale)
    }
}
