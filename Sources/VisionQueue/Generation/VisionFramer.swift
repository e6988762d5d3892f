/// Writes the opening and closing paragraphs around a vision's sections (`VQ_ASSEMBLY=model`).
public protocol VisionFramer: Sendable {
    func frame(
        sections: [VisionCategory: String], jobID: JobID, userID: String, attempt: Int, deadline: EpochMillis,
        progress: GenerationProgress
    ) throws(GenerationError) -> (framing: VisionFraming, generation: Generation)
}

extension OpenAIGenerator: VisionFramer {}
