/// `ECS_IMAGE_PULL_BEHAVIOR`: when the agent pulls a task's images.
public enum ImagePullBehavior: String, Sendable, Hashable, CaseIterable {
    /// Always pull; if the pull fails, run with the cached image when there is one.
    case `default`
    /// Always pull; a failed pull stops the task.
    case always
    /// Pull only if this agent has not pulled the image successfully before; a failed pull stops the task.
    case once
    /// Pull only if the image is not on the host; image cleanup is off in this mode.
    case preferCached = "prefer-cached"
}
