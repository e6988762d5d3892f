import FoundationEssentials

/// The prompts a model is given: three plain-text files with `PromptTemplate` tags, read once at
/// start from `VQ_PROMPTS_DIR` (by default the repository's `prompts/`).
///
/// - `system.txt`: the system message of every call.
/// - `category.txt`: one section. Names: `category`, `title`, `notes` (the user's notes for it,
///   possibly empty), `otherNotes` (a list of `title`, `notes` for every other category with notes).
/// - `assembly.txt`: the opening and closing paragraphs of the whole vision (`VQ_ASSEMBLY=model`).
///   Names: `sections` (a list of `title`, `text`).
public struct Prompts: Sendable, Equatable {
    public var system: PromptTemplate
    public var category: PromptTemplate
    public var assembly: PromptTemplate

    public static let fileNames = ["system.txt", "category.txt", "assembly.txt"]

    public init(system: PromptTemplate, category: PromptTemplate, assembly: PromptTemplate) {
        self.system = system
        self.category = category
        self.assembly = assembly
    }

    /// Reads and parses the three files; any that is missing or does not parse is named.
    public init(directory: String) throws(ConfigurationError) {
        var templates: [PromptTemplate] = []
        for name in Self.fileNames {
            let path = directory + "/" + name
            guard let source = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError("VQ_PROMPTS_DIR: \(path) cannot be read")
            }
            do {
                templates.append(try PromptTemplate(source))
            } catch {
                throw ConfigurationError("VQ_PROMPTS_DIR: \(path): \(error)")
            }
        }
        self.init(system: templates[0], category: templates[1], assembly: templates[2])
    }

    /// The user message that asks for one category's section.
    public func categoryMessage(_ request: GenerationRequest) -> String {
        let others: [[String: PromptTemplate.Value]] = VisionCategory.allCases.compactMap { other in
            guard other != request.category, let notes = request.allNotes[other], !notes.trimmed.isEmpty else { return nil }
            return ["title": .text(other.title), "notes": .text(notes)]
        }
        return category.render([
            "category": .text(request.category.key), "title": .text(request.category.title),
            "notes": .text(request.notes), "otherNotes": .list(others),
        ])
    }

    /// The user message that asks for the opening and closing paragraphs.
    public func assemblyMessage(sections: [VisionCategory: String]) -> String {
        let list: [[String: PromptTemplate.Value]] = VisionCategory.allCases.compactMap { category in
            guard let text = sections[category] else { return nil }
            return ["title": .text(category.title), "text": .text(text)]
        }
        return assembly.render(["sections": .list(list)])
    }

    public var systemMessage: String { system.render([:]) }
}
