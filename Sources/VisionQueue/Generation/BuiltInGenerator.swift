import Glibc

/// The offline generator: turns the user's notes into a first-person, present-tense paragraph.
///
/// It is what a fresh install runs with no API key, and what the tests run, so its output is
/// deterministic for the same input. `delayMillis` imitates the time a model takes, so that a
/// person watching the page sees progress move.
public struct BuiltInGenerator: VisionGenerator {
    public var delayMillis: Int

    public init(delayMillis: Int) { self.delayMillis = max(0, delayMillis) }

    /// Reveals the paragraph a few words at a time over `delayMillis`, as a model streams, so the
    /// page's live text works offline too.
    public func write(_ request: GenerationRequest, progress: GenerationProgress) throws(GenerationError) -> Generation {
        let text = Self.paragraph(for: request.category, notes: request.notes)
        if delayMillis > 0 {
            let started = Clock.now()
            let wait = min(Int64(delayMillis), max(0, request.deadline - started))
            let words = text.split(separator: " ", omittingEmptySubsequences: false)
            let steps = max(1, Int(wait / 250))
            for step in 1...steps {
                usleep(useconds_t(wait / Int64(steps) * 1000))
                if step < steps { progress.textSoFar(words.prefix(words.count * step / steps).joined(separator: " ")) }
            }
            guard Clock.now() <= request.deadline || wait == Int64(delayMillis) else {
                throw GenerationError("The built-in generator ran past its deadline.", reason: .deadline)
            }
        }
        return Generation(text: text)
    }

    static func paragraph(for category: VisionCategory, notes: String) -> String {
        let phrases = notes
            .split(whereSeparator: { $0 == "\n" || $0 == ";" || $0 == "." || $0 == "!" || $0 == "?" })
            .map(\.trimmed)
            .filter { !$0.isEmpty }
        let (opening, closing, fallback) = voice(for: category)
        guard !phrases.isEmpty else { return "\(opening) \(fallback) \(closing)" }
        let woven = phrases.prefix(8).map(Self.presentTense)
        return ([opening] + woven.map { $0 + "." } + [closing]).joined(separator: " ")
    }

    /// "I want to run a marathon" becomes "I run a marathon": a vision is written as if it is
    /// already true. A note that is not a sentence about "I" becomes a statement of fact.
    static func presentTense(_ phrase: String) -> String {
        let lowered = phrase.lowercased()
        let wishes = ["i want to ", "i'd like to ", "i would like to ", "i wish to ", "i hope to ", "i will ", "i'll ",
                      "i plan to ", "want to ", "would like to ", "to "]
        for wish in wishes where lowered.hasPrefix(wish) {
            return "I " + phrase.dropFirst(wish.count)
        }
        if lowered.hasPrefix("i ") { return "I " + phrase.dropFirst(2) }
        // A note that starts with a verb ("walk the Camino") is something I do.
        if let first = lowered.split(separator: " ").first, Self.verbs.contains(String(first)) {
            return "I " + lowered.prefix(first.count) + phrase.dropFirst(first.count)
        }
        return phrase.prefix(1).uppercased() + phrase.dropFirst() + " is part of my life"
    }

    static let verbs: Set<String> = [
        "be", "become", "build", "buy", "climb", "cook", "create", "dance", "do", "donate", "eat", "explore", "feel",
        "find", "finish", "garden", "get", "give", "go", "grow", "have", "help", "hike", "join", "keep", "learn", "live",
        "love", "make", "meditate", "move", "own", "paint", "play", "pray", "read", "run", "save", "see", "sing",
        "sleep", "spend", "start", "swim", "take", "teach", "travel", "visit", "volunteer", "walk", "work", "write",
    ]

    /// Opening line, closing line, and the middle used when the user left the category empty.
    private static func voice(for category: VisionCategory) -> (String, String, String) {
        switch category {
        case .fun:
            ("I make room for joy every single week.", "Play is part of who I am, not a reward I wait for.",
             "I say yes to spontaneous adventures, I laugh easily, and I have hobbies that absorb me completely.")
        case .health:
            ("I feel strong, rested and at home in my body.", "I treat my health as the foundation everything else stands on.",
             "I move every day, eat food that fuels me, sleep deeply and give my mind quiet time to recover.")
        case .travel:
            ("I explore the world with curiosity and ease.", "Every journey leaves me a little wiser and more grateful.",
             "I visit new places every year, travel comfortably, and bring home stories worth telling.")
        case .love:
            ("I share my life with a partner who truly sees me.", "Our love grows deeper with every year we choose each other.",
             "We communicate openly, support each other's dreams and still make time to simply enjoy each other.")
        case .family:
            ("I am present and generous with the people I call family.", "Our home is a place where everyone feels they belong.",
             "We share meals, celebrate each other and stay close through every season of life.")
        case .social:
            ("I am surrounded by friends who lift me up.", "My friendships are a source of energy, honesty and fun.",
             "I invest in a few deep friendships, meet new people with an open heart and show up when it counts.")
        case .home:
            ("I live in a home that feels calm, warm and completely mine.", "Coming home recharges me every day.",
             "It is full of light, easy to keep in order and has room for the people and things I love.")
        case .work:
            ("I do work that uses my strengths and matters to people.", "I end most days proud of what I made.",
             "I am trusted, keep learning, and my work leaves me energised rather than drained.")
        case .money:
            ("I have a calm, confident relationship with money.", "Money is a tool that gives me freedom and choices.",
             "I earn well, spend on what I value, save without strain and give generously.")
        case .possessions:
            ("I own fewer, better things that truly add to my life.", "What I keep, I keep because it serves or delights me.",
             "I care for what I have and let go easily of what I no longer need.")
        case .giving:
            ("I give my time, skills and resources with an open hand.", "Giving connects me to something larger than myself.",
             "I support causes I believe in and help the people around me in practical ways.")
        case .spirituality:
            ("I live with a deep sense of meaning and inner peace.", "I trust myself and feel connected to the world around me.",
             "I make time for reflection, gratitude and stillness, and I act in line with my values.")
        }
    }
}
