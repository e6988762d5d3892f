/// The store's columns read as domain values. A value that does not parse is a corrupt row the
/// caller sees (`StoreError.corruptRow`), never a default or a freshly made-up id in its place.
extension SQLRow {
    /// The column's text read by `parse`; `what` names it in the error.
    func decoded<T>(_ column: Int32, as what: String, _ parse: (String) -> T?) throws(StoreError) -> T {
        let text = self.text(column)
        guard let value = parse(text) else { throw .corruptRow("\(what) '\(text.prefix(64))' cannot be read") }
        return value
    }

    func jobID(_ column: Int32) throws(StoreError) -> JobID {
        try decoded(column, as: "job id", { JobID($0) })
    }

    func jobStatus(_ column: Int32) throws(StoreError) -> JobStatus {
        try decoded(column, as: "job status", JobStatus.init(rawValue:))
    }

    func categoryState(_ column: Int32) throws(StoreError) -> CategoryState {
        try decoded(column, as: "category state", CategoryState.init(rawValue:))
    }

    /// A category stored by its position (0-11).
    func category(position column: Int32) throws(StoreError) -> VisionCategory {
        let position = int(column)
        guard let category = VisionCategory(position: Int(position)) else {
            throw .corruptRow("category position \(position) cannot be read")
        }
        return category
    }

    /// A category stored by its key (`fun`, `health`, ...); nil for NULL.
    func optionalCategory(_ column: Int32) throws(StoreError) -> VisionCategory? {
        guard optionalText(column) != nil else { return nil }
        return try decoded(column, as: "category", VisionCategory.init(rawValue:))
    }
}
