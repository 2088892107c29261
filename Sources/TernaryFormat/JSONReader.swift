#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Parses JSON into plain Swift values, as `JSONSerialization.jsonObject` does: objects become
/// `[String: Any]`, arrays `[Any]`, numbers `Int` (when integral and in range) or `Double`, and null
/// `JSONReader.Null`. It uses Foundation's `JSONDecoder`, which on Linux lives in
/// FoundationEssentials, so the engine does not load full Foundation and ICU (about 6 MB resident).
public enum JSONReader {
    public struct Null: Sendable, Equatable {}

    /// A JSON number as a Double, whether it was parsed as an integer or not.
    public static func double(_ value: Any) -> Double? {
        if let d = value as? Double { return d }
        if let i = value as? Int { return Double(i) }
        return nil
    }

    /// Why a text is not JSON, in the decoder's words (position included where it gives one).
    public struct SyntaxError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The parsed value, or a `SyntaxError` if `data` is not valid JSON.
    public static func parse(_ data: Data) throws -> Any {
        do {
            return try JSONDecoder().decode(Node.self, from: data).value
        } catch let DecodingError.dataCorrupted(context) {
            throw SyntaxError(description: context.underlyingError.map { "\($0)" } ?? context.debugDescription)
        }
    }

    private struct Key: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    private struct Node: Decodable {
        let value: Any

        init(from decoder: any Decoder) throws {
            if let object = try? decoder.container(keyedBy: Key.self) {
                var dictionary = [String: Any](minimumCapacity: object.allKeys.count)
                for key in object.allKeys { dictionary[key.stringValue] = try object.decode(Node.self, forKey: key).value }
                value = dictionary
            } else if var array = try? decoder.unkeyedContainer() {
                var items = [Any]()
                while !array.isAtEnd { items.append(try array.decode(Node.self).value) }
                value = items
            } else {
                let single = try decoder.singleValueContainer()
                if single.decodeNil() {
                    value = Null()
                } else if let string = try? single.decode(String.self) {
                    value = string
                } else if let bool = try? single.decode(Bool.self) {
                    value = bool
                } else if let int = try? single.decode(Int.self) {
                    value = int
                } else {
                    value = try single.decode(Double.self)
                }
            }
        }
    }
}
