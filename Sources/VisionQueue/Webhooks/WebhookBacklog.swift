/// Events not delivered: those still to be tried, how long the oldest of them has waited, and
/// those given up after the whole retry schedule.
public struct WebhookBacklog: Sendable, Equatable {
    public var undelivered: Int
    public var givenUp: Int
    public var oldestMillis: Int64?

    public init(undelivered: Int, givenUp: Int, oldestMillis: Int64?) {
        self.undelivered = undelivered
        self.givenUp = givenUp
        self.oldestMillis = oldestMillis
    }
}
