import BerthAgent
import BerthModel
import Prometheus

/// What `/metrics` shows: the counters and timers the layers record through swift-metrics, plus the
/// engine's tasks and containers by status, counted at scrape time.
struct MetricsRendering: Sendable {
    let registry: PrometheusCollectorRegistry

    func render(tasks: [TaskRecord]) -> String {
        var taskCounts: [String: Int] = [:]
        var containerCounts: [String: Int] = [:]
        for task in tasks {
            taskCounts[task.knownStatus.name, default: 0] += 1
            for container in task.containers { containerCounts[container.knownStatus.name, default: 0] += 1 }
        }
        let tasksGauge = MetricNameDescriptor(
            metricName: "berth_tasks",
            unitName: "",
            helpText: "Tasks on this host by known status"
        )
        let containersGauge = MetricNameDescriptor(
            metricName: "berth_containers",
            unitName: "",
            helpText: "Task containers on this host by known status"
        )
        for status in TaskStatus.allCases.map(\.name) {
            registry.makeGauge(descriptor: tasksGauge, labels: [("status", status)])
                .set(Int64(taskCounts[status, default: 0]))
            registry.makeGauge(descriptor: containersGauge, labels: [("status", status)])
                .set(Int64(containerCounts[status, default: 0]))
        }
        return registry.emitToString()
    }
}
