import BerthAgent
public import DockerEngine

extension DockerEngineClient {
    /// Removes every container and volume Berth labelled for `cluster`, whatever state they are in: what a
    /// test leaves behind when it ends, passing or not.
    public func removeEverything(ofCluster cluster: String) async {
        let filter = ContainerSpec.clusterFilter(cluster)
        for container in (try? await listContainers(all: true, filters: filter)) ?? [] {
            try? await removeContainer(container.id, removeVolumes: true, force: true)
        }
        for volume in (try? await listVolumes(filters: filter)) ?? [] {
            try? await removeVolume(volume.name, force: true)
        }
    }
}
