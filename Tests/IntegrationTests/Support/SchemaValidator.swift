import Foundation

/// Checks a JSON value against the subset of JSON Schema that docs/openapi.json uses ($ref, type,
/// required, properties, additionalProperties, enum, const, items, min/maxItems, allOf, oneOf,
/// minimum, maximum, maxLength, format uuid and date-time). Answers every mismatch found.
struct SchemaValidator {
    let document: [String: Any]

    func errors(_ value: Any, against schema: [String: Any], at path: String = "$") -> [String] {
        if let reference = schema["$ref"] as? String { return errors(value, against: resolve(reference), at: path) }
        var found: [String] = []
        if let all = schema["allOf"] as? [[String: Any]] {
            for part in all { found += errors(value, against: part, at: path) }
        }
        if let options = schema["oneOf"] as? [[String: Any]] {
            let matching = options.filter { errors(value, against: $0, at: path).isEmpty }.count
            if matching != 1 { found.append("\(path): matches \(matching) of oneOf, not exactly 1") }
        }
        if let types = schema["type"].map({ ($0 as? [String]) ?? [$0 as? String ?? ""] }), !types.contains(where: { Self.has(value, type: $0) }) {
            return found + ["\(path): \(Self.describe(value)) is not \(types.joined(separator: " or "))"]
        }
        if let allowed = schema["enum"] as? [Any], !allowed.contains(where: { Self.same($0, value) }) {
            found.append("\(path): \(value) not in \(allowed)")
        }
        if let constant = schema["const"], !Self.same(constant, value) { found.append("\(path): \(value) is not \(constant)") }
        if let number = value as? NSNumber, !(value is Bool) {
            if let minimum = schema["minimum"] as? Double, number.doubleValue < minimum { found.append("\(path): below \(minimum)") }
            if let maximum = schema["maximum"] as? Double, number.doubleValue > maximum { found.append("\(path): above \(maximum)") }
        }
        if let text = value as? String {
            if let maxLength = schema["maxLength"] as? Int, text.count > maxLength { found.append("\(path): longer than \(maxLength)") }
            switch schema["format"] as? String {
            case "uuid"?: if UUID(uuidString: text) == nil { found.append("\(path): \(text) is not a UUID") }
            case "date-time"?: if !Self.isDateTime(text) { found.append("\(path): \(text) is not a date-time") }
            default: break
            }
        }
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil { found.append("\(path): missing \(key)") }
            let properties = schema["properties"] as? [String: [String: Any]] ?? [:]
            for (key, item) in object {
                if let property = properties[key] {
                    found += errors(item, against: property, at: "\(path).\(key)")
                } else if schema["additionalProperties"] as? Bool == false {
                    found.append("\(path): unexpected property \(key)")
                }
            }
        }
        if let array = value as? [Any] {
            if let minItems = schema["minItems"] as? Int, array.count < minItems { found.append("\(path): fewer than \(minItems) items") }
            if let maxItems = schema["maxItems"] as? Int, array.count > maxItems { found.append("\(path): more than \(maxItems) items") }
            if let items = schema["items"] as? [String: Any] {
                for (index, item) in array.enumerated() { found += errors(item, against: items, at: "\(path)[\(index)]") }
            }
        }
        return found
    }

    func resolve(_ reference: String) -> [String: Any] {
        var node: Any = document
        for part in reference.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] ?? [:] }
        return node as? [String: Any] ?? [:]
    }

    static func has(_ value: Any, type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        // JSONSerialization gives NSNumbers; a JSON boolean is the one whose C type is "c".
        case "boolean": return (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
        case "integer": return (value as? NSNumber).map { !has(value, type: "boolean") && $0.doubleValue == $0.doubleValue.rounded() } ?? false
        case "number": return value is NSNumber && !has(value, type: "boolean")
        case "string": return value is String
        case "array": return value is [Any]
        case "object": return value is [String: Any]
        default: return false
        }
    }

    static func isDateTime(_ text: String) -> Bool {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text) != nil
    }

    static func same(_ a: Any, _ b: Any) -> Bool { "\(a)" == "\(b)" }

    static func describe(_ value: Any) -> String { value is NSNull ? "null" : "\(type(of: value)) \(value)" }
}

