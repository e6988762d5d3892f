/// Where and how run endings are announced (`VQ_WEBHOOK_*`).
public struct WebhookSettings: Sendable {
    public var url: String
    public var signer: WebhookSigner
    public var schedule: WebhookRetrySchedule
    /// One delivery, connection to answer; a receiver slower than this is tried again later.
    public var timeoutSeconds: Int

    public init(url: String, signer: WebhookSigner, schedule: WebhookRetrySchedule, timeoutSeconds: Int) {
        self.url = url
        self.signer = signer
        self.schedule = schedule
        self.timeoutSeconds = timeoutSeconds
    }
}
