/**
 * A cluster's TLS settings as stored (public material only; the client key is a separate,
 * encrypted column). When set, crossdock talks to the cluster only over https and AMQPS, and
 * links from other clusters to it use amqps:// URIs.
 */
export interface ClusterTls {
  /** PEM bundle of the CAs that sign the cluster's certificates (two during a CA rotation). */
  caBundle: string;
  /** SNI and the name checked in the cluster's certificates; the connection host when null. */
  serverName: string | null;
  /** Client certificate (PEM) crossdock presents; its key is stored encrypted. */
  clientCertificate: string | null;
  /**
   * Files on this cluster's nodes that links it runs (federation downstream, shovel source) name
   * in their amqps URIs: RabbitMQ reads them on the node, so they are paths, not PEM contents.
   */
  linkFiles: LinkTlsFiles | null;
}

export interface LinkTlsFiles {
  /** CA bundle the link verifies the remote cluster with. */
  caCertFile: string;
  /** Client certificate and key the link presents (both or neither). */
  certFile: string | null;
  keyFile: string | null;
}

/** Associated data of the sealed client key (binds it to its cluster row). */
export const tlsClientKeyAad = (clusterId: string) => `${clusterId}:tls-client-key`;
