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

    public static let count = allCases.count
}
