/// A prompt file with Mustache's variables and sections, the subset prompts need:
/// `{{name}}`, `{{#name}}...{{/name}}` (shown when `name` is a non-empty text or list, repeated
/// for each item of a list), `{{^name}}...{{/name}}` (shown when it is empty or missing) and
/// `{{! comments }}`. Nothing is HTML-escaped: prompts are plain text.
///
/// Written here rather than taken from swift-mustache, which imports Foundation: linking its
/// internationalisation part costs each worker process about 2 MB, more than the idle-memory
/// budget has left (see README, benchmarks). A template that does not parse is refused at start.
public struct PromptTemplate: Sendable, Equatable {
    /// A value a template can name.
    public indirect enum Value: Sendable, Equatable {
        case text(String)
        case list([[String: Value]])

        var isEmpty: Bool {
            switch self {
            case .text(let text): text.trimmed.isEmpty
            case .list(let items): items.isEmpty
            }
        }
    }

    public struct ParseError: Error, CustomStringConvertible, Equatable, Sendable {
        public var description: String
    }

    private indirect enum Node: Sendable, Equatable {
        case literal(String)
        case variable(String)
        case section(String, inverted: Bool, [Node])
    }

    private let nodes: [Node]

    public init(_ source: String) throws(ParseError) {
        var rest = source[...]
        var stack: [(name: String, inverted: Bool, nodes: [Node])] = [("", false, [])]
        while !rest.isEmpty {
            guard let open = rest.firstRange(of: "{{") else {
                stack[stack.count - 1].nodes.append(.literal(String(rest)))
                break
            }
            if open.lowerBound > rest.startIndex { stack[stack.count - 1].nodes.append(.literal(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else {
                throw ParseError(description: "a '{{' is never closed")
            }
            let tag = rest[open.upperBound..<close.lowerBound].trimmed
            rest = rest[close.upperBound...]
            guard let sigil = tag.first else { throw ParseError(description: "an empty tag '{{}}'") }
            let name = String(tag.dropFirst()).trimmed
            switch sigil {
            case "!":
                if rest.first == "\n" { rest = rest.dropFirst() }
            case "#", "^":
                guard !name.isEmpty else { throw ParseError(description: "a section without a name") }
                stack.append((name, sigil == "^", []))
                // A section tag alone on its line leaves no blank line behind.
                if rest.first == "\n" { rest = rest.dropFirst() }
            case "/":
                guard stack.count > 1, let section = stack.last, section.name == name else {
                    throw ParseError(description: "'{{/\(name)}}' closes no open section")
                }
                stack.removeLast()
                stack[stack.count - 1].nodes.append(.section(name, inverted: section.inverted, section.nodes))
                if rest.first == "\n" { rest = rest.dropFirst() }
            default:
                stack[stack.count - 1].nodes.append(.variable(tag))
            }
        }
        guard stack.count == 1 else { throw ParseError(description: "'{{#\(stack.last!.name)}}' is never closed") }
        nodes = stack[0].nodes
    }

    /// The text, with every name looked up in `values` (then in the enclosing list items').
    public func render(_ values: [String: Value]) -> String {
        var output = ""
        Self.render(nodes, scopes: [values], into: &output)
        return output
    }

    private static func render(_ nodes: [Node], scopes: [[String: Value]], into output: inout String) {
        func lookup(_ name: String) -> Value? {
            for scope in scopes.reversed() { if let value = scope[name] { return value } }
            return nil
        }
        for node in nodes {
            switch node {
            case .literal(let text):
                output += text
            case .variable(let name):
                if case .text(let text)? = lookup(name) { output += text }
            case .section(let name, let inverted, let children):
                let value = lookup(name)
                let empty = value?.isEmpty ?? true
                if inverted {
                    if empty { render(children, scopes: scopes, into: &output) }
                } else if !empty, let value {
                    switch value {
                    case .text: render(children, scopes: scopes, into: &output)
                    case .list(let items): for item in items { render(children, scopes: scopes + [item], into: &output) }
                    }
                }
            }
        }
    }
}
