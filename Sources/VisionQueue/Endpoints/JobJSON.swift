/// The JSON shapes of jobs and visions, written in one place so every endpoint agrees.
enum JobJSON {
    static func writeSummary(_ job: Job, into json: inout JSONWriter) {
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
    }

    static func write(_ job: Job, policy: RetryPolicy, into json: inout JSONWriter) {
        writeSummary(job, into: &json)
        json.field("maxAttempts", policy.maxAttempts)
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
    }
}
