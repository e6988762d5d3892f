/// The JSON shapes of jobs and visions, written in one place so every endpoint agrees.
enum JobJSON {
    static func writeSummary(_ job: Job, prices: ModelSettings?, into json: inout JSONWriter) {
        json.field("jobId", job.id.rawValue)
        json.field("status", job.status.rawValue)
        json.field("currentCategory", job.currentCategory?.key)
        json.field("categoriesCompleted", job.categoriesCompleted)
        json.field("categoriesFailed", job.categoriesFailed)
        json.field("totalCategories", VisionCategory.count)
        json.field("progress", job.progress)
        json.field("visionId", job.visionID)
        json.field("error", job.error)
        json.timestampField("createdAt", job.createdAt)
        json.timestampField("startedAt", job.startedAt)
        json.timestampField("completedAt", job.completedAt)
        json.timestampField("updatedAt", job.updatedAt)
        json.key("tokens")
        writeTokens(job.usage, into: &json)
        if let cost = prices?.cost(of: job.usage) {
            json.key("estimatedCost")
            json.number((cost * 1_000_000).rounded() / 1_000_000)
        }
    }

    /// One attempt of the operator's history.
    static func write(_ attempt: AttemptRecord, into json: inout JSONWriter) {
        json.field("category", attempt.category?.key ?? "assembly")
        json.field("attempt", attempt.attempt)
        json.field("outcome", attempt.outcome)
        json.field("error", attempt.error)
        json.key("tokens")
        writeTokens(attempt.usage, into: &json)
        json.field("latencyMs", Int(attempt.latencyMillis))
        json.timestampField("endedAt", attempt.endedAt)
    }

    private static func writeTokens(_ usage: TokenUsage, into json: inout JSONWriter) {
        json.object { tokens in
            tokens.key("prompt")
            tokens.int(Int(usage.promptTokens))
            tokens.key("completion")
            tokens.int(Int(usage.completionTokens))
            tokens.key("total")
            tokens.int(Int(usage.totalTokens))
        }
    }

    static func write(
        _ job: Job, policy: RetryPolicy, typicalCategoryMillis: Int64?, prices: ModelSettings?, into json: inout JSONWriter
    ) {
        writeSummary(job, prices: prices, into: &json)
        json.field("maxAttempts", policy.maxAttempts)
        json.field("assemblyNote", job.assemblyNote)
        json.key("typicalCategorySeconds")
        json.number(typicalCategoryMillis.map { (Double($0) / 100).rounded() / 10 })
        json.key("categories")
        json.array { array in
            for item in job.categories {
                array.object { entry in
                    entry.field("key", item.category.key)
                    entry.field("title", item.category.title)
                    entry.field("status", item.state.rawValue)
                    entry.field("attempts", item.attempts)
                    entry.field("error", item.error)
                    entry.timestampField("startedAt", item.startedAt)
                    entry.timestampField("completedAt", item.completedAt)
                    entry.timestampField("nextAttemptAt", item.nextAttemptAt)
                    // The running attempt's text so far and its wait for the provider; nil otherwise.
                    let running = item.state == .running
                    entry.field("partialText", running ? item.partialText : nil)
                    entry.timestampField("waitingUntil", running ? item.waitingUntil : nil)
                    entry.field("waitingReason", running ? item.waitingReason : nil)
                    entry.field("truncated", item.truncated)
                    entry.key("tokens")
                    writeTokens(item.usage, into: &entry)
                }
            }
        }
    }

    static func write(_ vision: Vision, into json: inout JSONWriter) {
        json.field("visionId", vision.id)
        json.field("jobId", vision.jobID.rawValue)
        json.field("title", VisionAssembler.title)
        json.timestampField("createdAt", vision.createdAt)
        json.key("sections")
        json.array { array in
            for category in VisionCategory.allCases {
                array.object { entry in
                    entry.field("key", category.key)
                    entry.field("title", category.title)
                    entry.field("text", vision.sections[category])
                }
            }
        }
        json.field("document", vision.document)
        json.field("version", vision.version)
        json.key("versions")
        json.array { array in
            for version in vision.versions {
                array.object { entry in
                    entry.field("version", version.version)
                    entry.timestampField("createdAt", version.createdAt)
                }
            }
        }
    }
}
