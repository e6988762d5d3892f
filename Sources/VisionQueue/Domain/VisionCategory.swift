/// The twelve areas of a life vision, in the order they are written.
///
/// The order is part of the product: the page, the job's progress and the assembled document all
/// follow it, so `allCases` order is never changed, only appended to with a schema migration.
public enum VisionCategory: String, CaseIterable, Sendable, Codable {
    case fun, health, travel, love, family, social, home, work, money, possessions, giving, spirituality

    /// The key clients use in `answers` and the API reports in `currentCategory`.
    public var key: String { rawValue }

    /// 0-based position in the writing order; also the row key in the store.
    public var position: Int { VisionCategory.allCases.firstIndex(of: self)! }

    public init?(position: Int) {
        guard VisionCategory.allCases.indices.contains(position) else { return nil }
        self = VisionCategory.allCases[position]
    }

    public var title: String {
        switch self {
        case .fun: "Fun"
        case .health: "Health"
        case .travel: "Travel"
        case .love: "Love"
        case .family: "Family"
        case .social: "Social"
        case .home: "Home"
        case .work: "Work"
        case .money: "Money"
        case .possessions: "Possessions"
        case .giving: "Giving"
        case .spirituality: "Spirituality"
        }
    }

    /// The question the page shows above the category's text area.
    public var prompt: String {
        switch self {
        case .fun: "What do you love doing just for the joy of it?"
        case .health: "How do you want your body and mind to feel?"
        case .travel: "Where do you want to go, and how do you want to travel?"
        case .love: "What does your ideal romantic relationship look like?"
        case .family: "How do you want to show up for your family?"
        case .social: "Who are your friends, and what do you do together?"
        case .home: "Describe the place you live in."
        case .work: "What work do you do, and how does it feel?"
        case .money: "What is your relationship with money?"
        case .possessions: "Which things add to your life?"
        case .giving: "How do you give back?"
        case .spirituality: "What gives your life meaning?"
        }
    }

    public static let count = allCases.count
}
