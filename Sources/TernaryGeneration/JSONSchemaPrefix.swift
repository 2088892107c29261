/// Checks, one byte at a time, that a text is the beginning of one JSON value that a `JSONSchema`
/// accepts: structured outputs (`OutputFormat.jsonSchema`). Objects and arrays the schema
/// describes are a stack of frames; keys and enum values are matched against the schema's bytes;
/// strings, numbers and unconstrained values are checked by a `JSONPrefix` of their own, which
/// also keeps the text valid JSON. Whitespace between tokens follows `JSONPrefix`'s limits.
public struct JSONSchemaPrefix: ByteChecker {
    enum Phase: UInt8 {
        case objectFirst, key, colon, value, afterValue  // an object's
        case arrayFirst, item, afterItem                 // an array's
    }

    struct Frame: Equatable {
        var node: Int32
        var phase: Phase
        /// An object's next property that may come; an array's items so far.
        var index: Int32
        /// The property whose value is being written.
        var matched: Int32 = -1
    }

    /// What the byte at hand belongs to.
    enum Scalar: UInt8 {
        case none
        /// A string, a number or an unconstrained value: `value` checks it.
        case value
        /// An enum value or a key: `candidates` (bits) of the node's literals or properties,
        /// `position` bytes matched.
        case literal, key
    }

    let schema: JSONSchema
    private var frames: [Frame] = []
    private var done = false
    private var scalar = Scalar.none
    private var scalarNode: Int32 = 0
    /// The scalar node's kind and string length bounds, kept here: the checker runs over every
    /// token of a vocabulary, and a node is not a cheap value to copy.
    private var scalarKind = JSONSchema.Kind.generic
    private var minLength = 0, maxLength = Int.max
    private var value = JSONPrefix(anyValue: true)
    private var characters = 0
    private var candidates: UInt64 = 0
    private var position = 0
    private var whitespace = WhitespaceRun()

    public init(schema: JSONSchema) { self.schema = schema }

    public static func == (a: JSONSchemaPrefix, b: JSONSchemaPrefix) -> Bool {
        a.schema === b.schema && a.frames == b.frames && a.done == b.done && a.scalar == b.scalar && a.scalarNode == b.scalarNode
            && a.scalarKind == b.scalarKind && a.value == b.value && a.characters == b.characters && a.candidates == b.candidates && a.position == b.position
            && a.whitespace == b.whitespace
    }

    /// Whether the text is one whole value the schema accepts (and possibly whitespace after it).
    public var isComplete: Bool { done }

    /// Takes one byte; false (and an unspecified state) when no text the schema accepts can have it here.
    public mutating func consume(_ byte: UInt8) -> Bool {
        switch scalar {
        case .none: return structural(byte)
        case .value: return valueByte(byte)
        case .literal, .key: return match(byte)
        }
    }

    private func node(_ index: Int32) -> JSONSchema.Node { schema.nodes[Int(index)] }

    private mutating func valueByte(_ byte: UInt8) -> Bool {
        if scalarKind == .integer, value.inNumber, byte == UInt8(ascii: ".") || byte | 0x20 == UInt8(ascii: "e") { return false }
        if scalarKind == .string, value.atStringCharacter {
            if byte == UInt8(ascii: "\"") {
                guard characters >= minLength else { return false }
            } else {
                guard characters < maxLength else { return false }
                characters += 1
            }
        }
        let mayEnd = value.mayEndBeforeNextByte
        if mayEnd, WhitespaceRun.isWhitespace(byte) {
            // The number ends here; the whitespace after it counts towards this checker's run.
            scalar = .none
            valueEnded()
            return structural(byte)
        }
        if value.consume(byte) {
            if value.isComplete {
                scalar = .none
                valueEnded()
            }
            return true
        }
        guard mayEnd else { return false }
        scalar = .none
        valueEnded()
        return structural(byte)
    }

    /// An enum value or a key, byte by byte against the candidates; it ends when every candidate
    /// left is whole (a byte that continues none ends a whole one that a shorter candidate is).
    private mutating func match(_ byte: UInt8) -> Bool {
        let n = Int(scalarNode), isKey = scalar == .key
        var next: UInt64 = 0, whole = false, allWhole = true
        var bits = candidates
        while bits != 0 {
            let i = bits.trailingZeroBitCount
            bits &= bits - 1
            let count = isKey ? schema.nodes[n].properties[i].key.count : schema.nodes[n].literals[i].count
            if count == position {
                whole = true
            } else if (isKey ? schema.nodes[n].properties[i].key[position] : schema.nodes[n].literals[i][position]) == byte {
                next |= 1 << UInt64(i)
                if count != position + 1 { allWhole = false }
            }
        }
        if next == 0 {
            // Only a shorter enum value may end before this byte (keys end with their quote).
            guard whole, scalar == .literal else { return false }
            scalar = .none
            valueEnded()
            return structural(byte)
        }
        candidates = next
        position += 1
        if allWhole { finishMatch() }
        return true
    }

    private mutating func finishMatch() {
        if scalar == .key {
            frames[frames.count - 1].matched = Int32(candidates.trailingZeroBitCount)
            frames[frames.count - 1].phase = .colon
            scalar = .none
        } else {
            scalar = .none
            valueEnded()
        }
    }

    /// A byte between values: whitespace, punctuation, or the start of a value.
    private mutating func structural(_ byte: UInt8) -> Bool {
        if WhitespaceRun.isWhitespace(byte) { return whitespace.take(byte) }
        whitespace = WhitespaceRun()
        guard let top = frames.last else { return !done && startValue(Int32(schema.root), byte) }
        let node = node(top.node)
        switch (top.phase, byte) {
        case (.objectFirst, UInt8(ascii: "\"")), (.key, UInt8(ascii: "\"")):
            return startKey(node, from: Int(top.index))
        case (.objectFirst, UInt8(ascii: "}")), (.afterValue, UInt8(ascii: "}")):
            guard !node.properties[Int(top.index)...].contains(where: \.required) else { return false }
            return close()
        case (.colon, UInt8(ascii: ":")):
            frames[frames.count - 1].phase = .value
            return true
        case (.value, _):
            return startValue(Int32(node.properties[Int(top.matched)].node), byte)
        case (.afterValue, UInt8(ascii: ",")):
            guard Int(top.index) < node.properties.count else { return false }
            frames[frames.count - 1].phase = .key
            return true
        case (.arrayFirst, UInt8(ascii: "]")), (.afterItem, UInt8(ascii: "]")):
            guard Int(top.index) >= node.minItems else { return false }
            return close()
        case (.arrayFirst, _), (.item, _):
            guard Int(top.index) < node.maxItems else { return false }
            return startValue(Int32(node.item), byte)
        case (.afterItem, UInt8(ascii: ",")):
            guard Int(top.index) < node.maxItems else { return false }
            frames[frames.count - 1].phase = .item
            return true
        default:
            return false
        }
    }

    /// A key: the properties from `index` up to the first required one may come next.
    private mutating func startKey(_ node: JSONSchema.Node, from index: Int) -> Bool {
        var mask: UInt64 = 0
        for i in index..<node.properties.count {
            mask |= 1 << UInt64(i)
            if node.properties[i].required { break }
        }
        guard mask != 0 else { return false }
        scalar = .key
        scalarNode = frames[frames.count - 1].node
        candidates = mask
        position = 1  // every key starts with its quote
        return true
    }

    private mutating func startValue(_ index: Int32, _ byte: UInt8) -> Bool {
        guard let resolved = schema.node(Int(index), startingWith: byte) else { return false }
        let node = schema.nodes[resolved]
        switch node.kind {
        case .object:
            frames.append(Frame(node: Int32(resolved), phase: .objectFirst, index: 0))
        case .array:
            frames.append(Frame(node: Int32(resolved), phase: .arrayFirst, index: 0))
        case .literals:
            var mask: UInt64 = 0
            for (i, literal) in node.literals.enumerated() where literal.first == byte { mask |= 1 << UInt64(i) }
            scalar = .literal
            scalarNode = Int32(resolved)
            candidates = mask
            position = 1
            if node.literals.indices.allSatisfy({ mask & (1 << UInt64($0)) == 0 || node.literals[$0].count == 1 }) { finishMatch() }
        case .string, .number, .integer, .generic:
            scalar = .value
            scalarNode = Int32(resolved)
            scalarKind = node.kind
            minLength = node.minLength
            maxLength = node.maxLength
            value = JSONPrefix(anyValue: true)
            characters = 0
            guard value.consume(byte) else { return false }
            if value.isComplete {
                scalar = .none
                valueEnded()
            }
        case .union:
            return false  // resolved above
        }
        return true
    }

    private mutating func close() -> Bool {
        frames.removeLast()
        valueEnded()
        return true
    }

    /// A value ended: the text is whole at the top level; otherwise its container moves on.
    private mutating func valueEnded() {
        whitespace = WhitespaceRun()
        guard !frames.isEmpty else {
            done = true
            return
        }
        let last = frames.count - 1
        switch frames[last].phase {
        case .value:
            frames[last].index = frames[last].matched + 1
            frames[last].phase = .afterValue
        default:
            frames[last].index += 1
            frames[last].phase = .afterItem
        }
    }
}
