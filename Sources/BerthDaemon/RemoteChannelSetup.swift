import BerthAgent
import BerthAgentChannel
import BerthConfig
import BerthModel
import BerthRemoteChannel
import DockerEngine
import Foundation
import Logging
import NIOSSL
import SigV4

/// The agent's channel to a remote control plane, from the configuration: the signed API client (TLS with
/// the system's trust store or BERTH_BACKEND_CA_FILE) and the connection over it.
struct RemoteChannelSetup {
    let api: SignedECSClient
    let connection: RemoteControlPlaneConnection

    static func make(
        _ configuration: BerthConfiguration,
        docker: DockerEngineClient,
        agentVersion: String,
        agentHash: String?,
        logger: Logger
    ) async throws(AgentError) -> RemoteChannelSetup {
        guard let backend = configuration.backendHost, let baseURL = URL(string: backend) else {
            throw AgentError(.configuration, "ECS_BACKEND_HOST is not set")
        }
        guard let accessKeyID = configuration.backendAccessKeyID,
            let secret = configuration.backendSecretAccessKey
        else {
            throw AgentError(
                .configuration,
                "ECS_BACKEND_HOST=\(backend) needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to sign the agent's calls"
            )
        }
        var tls: TLSConfiguration?
        if baseURL.scheme?.lowercased() == "https" {
            var client = TLSConfiguration.makeClientConfiguration()
            client.minimumTLSVersion = .tlsv12
            if let caFile = configuration.backendCAFile {
                do {
                    client.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
                } catch {
                    throw AgentError(
                        .configuration,
                        "BERTH_BACKEND_CA_FILE=\(caFile): cannot read PEM certificates from it: \(error)"
                    )
                }
            }
            tls = client
            if let host = baseURL.host, RemoteControlPlaneConnection.isIPAddress(host),
                configuration.backendCAFile == nil
            {
                throw AgentError(
                    .configuration,
                    "ECS_BACKEND_HOST=\(backend): over https an IP address needs BERTH_BACKEND_CA_FILE (the control plane's own CA); "
                        + "the payload channel cannot check a certificate's name for an address. Or name the control plane by its DNS name"
                )
            }
        }
        let signer = SigV4Signer(
            accessKeyID: accessKeyID,
            secretAccessKey: secret,
            region: configuration.region.name
        )
        let api = SignedECSClient(baseURL: baseURL, signer: signer, tls: tls, logger: logger)
        let dockerVersion = try? await docker.version().version
        var timing = RemoteControlPlaneConnection.Timing()
        timing.silenceBeforeClose = configuration.channelSilenceTimeout
        timing.silenceJitter = configuration.channelSilenceTimeout
        timing.connectionLifetime = configuration.channelLifetime
        timing.lifetimeJitter = configuration.channelLifetime / 6
        let connection = RemoteControlPlaneConnection(
            api: api,
            tls: tls,
            trustsPrivateCA: configuration.backendCAFile != nil,
            identity: .init(agentVersion: agentVersion, agentHash: agentHash, dockerVersion: dockerVersion),
            timing: timing,
            logger: logger
        )
        return RemoteChannelSetup(api: api, connection: connection)
    }
}
