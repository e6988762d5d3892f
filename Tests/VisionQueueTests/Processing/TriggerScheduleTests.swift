import Testing

@testable import VisionQueue

@Suite("TriggerSchedule")
struct TriggerScheduleTests {
    let a = JobID("00000000-0000-4000-8000-00000000000a")!
    let b = JobID("00000000-0000-4000-8000-00000000000b")!
    let c = JobID("00000000-0000-4000-8000-00000000000c")!

    func entry(_ id: JobID, at time: EpochMillis) -> TriggerSchedule.Entry {
        .init(jobID: id, notBefore: time, tries: 0)
    }

    @Test func dueTriggersComeOutInArrivalOrder() {
        var schedule = TriggerSchedule()
        schedule.add(entry(a, at: 0), now: 100)
        schedule.add(entry(b, at: 50), now: 100)
        #expect(schedule.next(now: 100)?.jobID == a)
        #expect(schedule.next(now: 100)?.jobID == b)
        #expect(schedule.next(now: 100) == nil)
        #expect(schedule.isEmpty)
    }

    @Test func delayedTriggersWaitAndComeOutByDueTime() {
        var schedule = TriggerSchedule()
        schedule.add(entry(a, at: 300), now: 100)
        schedule.add(entry(b, at: 200), now: 100)
        schedule.add(entry(c, at: 250), now: 100)
        #expect(schedule.count == 3)
        #expect(!schedule.hasDue(now: 150))
        #expect(schedule.nextDueTime == 200)
        #expect(schedule.next(now: 150) == nil)
        #expect(schedule.hasDue(now: 260))
        #expect(schedule.next(now: 260)?.jobID == b)
        #expect(schedule.next(now: 260)?.jobID == c)
        #expect(schedule.next(now: 260) == nil)
        #expect(schedule.nextDueTime == 300)
        #expect(schedule.next(now: 300)?.jobID == a)
    }

    @Test func thousandsOfDelayedTriggersStayOrdered() {
        var schedule = TriggerSchedule()
        var random = SystemRandomNumberGenerator()
        let times = (0..<5_000).map { _ in EpochMillis.random(in: 1_000...100_000, using: &random) }
        for time in times { schedule.add(entry(a, at: time), now: 0) }
        var seen: [EpochMillis] = []
        while let next = schedule.next(now: 1_000_000) { seen.append(next.notBefore) }
        #expect(seen == times.sorted())
    }
}
