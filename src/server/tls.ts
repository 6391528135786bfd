import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type https from 'node:https';
import { createSecureContext } from 'node:tls';
import { type ServerCredentials, experimental } from '@grpc/grpc-js';
import { ConfigError, type TlsConfig } from '../core/config';

/** What a TLS port serves with: the PEM contents of the configured files. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  /** The leaf certificate's subject and expiry, for the log line and the expiry gauge. */
  subject: string;
  notAfter: Date;
}

type Listener<Update> = (update: Update | null) => void;

function read(file: string, field: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(`${field}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/**
 * Reads and checks the files: the certificate parses, the key is the
 * certificate's, the CA bundle parses. Any fault is a ConfigError naming the
 * field, never the key's contents.
 */
export function readTlsMaterial(config: TlsConfig): TlsMaterial {
  const cert = read(config.certFile, 'tls.certFile');
  const key = read(config.keyFile, 'tls.keyFile');
  const ca = config.clientCaFile === undefined ? undefined : read(config.clientCaFile, 'tls.clientCaFile');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new ConfigError(`tls.certFile: ${config.certFile} is not a PEM certificate (${(error as Error).message})`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new ConfigError(`tls.keyFile: ${config.keyFile} is not a PEM private key`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new ConfigError(`tls.keyFile: ${config.keyFile} is not the private key of ${config.certFile}`);
  }
  if (ca !== undefined) {
    try {
      createSecureContext({ ca });
      new X509Certificate(ca);
    } catch (error) {
      throw new ConfigError(`tls.clientCaFile: ${config.clientCaFile} is not a PEM certificate bundle (${(error as Error).message})`);
    }
  }
  return { cert, key, ca, subject: leaf.subject.replace(/\n/g, ', '), notAfter: new Date(leaf.validTo) };
}

/**
 * The server's certificates, shared by both ports and re-read on demand
 * (SIGHUP): the gRPC port through grpc-js's certificate-provider credentials,
 * the HTTP port through `setSecureContext`. Connections already open keep the
 * context they were made with, so no stream is dropped; new connections get
 * the new one. A reload that fails keeps the previous certificates.
 */
export class TlsCertificates implements experimental.CertificateProvider {
  private material: TlsMaterial;
  private readonly caListeners = new Set<Listener<experimental.CaCertificateUpdate>>();
  private readonly identityListeners = new Set<Listener<experimental.IdentityCertificateUpdate>>();
  private readonly changeListeners = new Set<(material: TlsMaterial) => void>();

  constructor(readonly config: TlsConfig) {
    this.material = readTlsMaterial(config);
  }

  get current(): TlsMaterial {
    return this.material;
  }

  /** Re-reads the files; throws a ConfigError (and keeps serving the old ones) if they are unusable. */
  reload(): TlsMaterial {
    this.material = readTlsMaterial(this.config);
    for (const listener of this.identityListeners) listener(this.identityUpdate());
    for (const listener of this.caListeners) listener(this.caUpdate());
    for (const listener of this.changeListeners) listener(this.material);
    return this.material;
  }

  onChange(listener: (material: TlsMaterial) => void): void {
    this.changeListeners.add(listener);
  }

  /** The gRPC port's credentials: mTLS when a client CA is set, required or optional as configured. */
  serverCredentials(): ServerCredentials {
    return experimental.createCertificateProviderServerCredentials(
      this,
      this.config.clientCaFile === undefined ? null : this,
      this.config.requireClientCert,
    );
  }

  /** The HTTP port's options for https.createServer, and for setSecureContext after a reload. */
  httpsOptions(): https.ServerOptions {
    const { cert, key, ca } = this.material;
    return { cert, key, ca, requestCert: ca !== undefined, rejectUnauthorized: this.config.requireClientCert };
  }

  addCaCertificateListener(listener: Listener<experimental.CaCertificateUpdate>): void {
    this.caListeners.add(listener);
    // Later, not now: grpc-js registers these listeners before the watcher
    // that applies their updates to the port, and an update made before the
    // watcher exists would never reach it.
    queueMicrotask(() => this.caListeners.has(listener) && listener(this.caUpdate()));
  }

  removeCaCertificateListener(listener: Listener<experimental.CaCertificateUpdate>): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: Listener<experimental.IdentityCertificateUpdate>): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => this.identityListeners.has(listener) && listener(this.identityUpdate()));
  }

  removeIdentityCertificateListener(listener: Listener<experimental.IdentityCertificateUpdate>): void {
    this.identityListeners.delete(listener);
  }

  private caUpdate(): experimental.CaCertificateUpdate | null {
    return this.material.ca ? { caCertificate: this.material.ca } : null;
  }

  private identityUpdate(): experimental.IdentityCertificateUpdate {
    return { certificate: this.material.cert, privateKey: this.material.key };
  }
}
