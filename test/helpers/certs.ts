import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeRun, run } from './run';

/**
 * Test certificates made by Debian's openssl in a temporary directory: a CA,
 * certificates it signs (for 127.0.0.1 and localhost, or a client's CN), and
 * one that expired in 2020. P-256 keys, so making them is quick.
 */
export class TestCerts {
  private constructor(readonly dir: string) {}

  static create(): TestCerts {
    return new TestCerts(mkdtempSync(path.join(tmpdir(), 'tokenrelay-certs-')));
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  private async openssl(args: string[]): Promise<void> {
    const result = await run('openssl', args, { cwd: this.dir, timeoutMs: 20_000 });
    if (result.code !== 0) throw new Error(describeRun('openssl', args, result));
  }

  /** A self-signed CA: NAME.pem and NAME.key. */
  async ca(name: string): Promise<string> {
    await this.openssl([
      'req',
      '-x509',
      '-new',
      '-nodes',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-subj',
      `/CN=${name}`,
      '-days',
      '2',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return this.file(`${name}.pem`);
  }

  /**
   * NAME.pem and NAME.key signed by the CA: a server certificate for
   * 127.0.0.1 and localhost, or a client certificate with CN `cn`. `expired`
   * makes one valid only on 2020-01-01.
   */
  async leaf(
    name: string,
    ca: string,
    options: { cn?: string; client?: boolean; expired?: boolean } = {},
  ): Promise<{ cert: string; key: string }> {
    const cn = options.cn ?? name;
    await this.openssl([
      'req',
      '-new',
      '-nodes',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ]);
    const extensions = options.client
      ? 'extendedKeyUsage=clientAuth\n'
      : 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n';
    writeFileSync(this.file(`${name}.ext`), `[leaf]\nbasicConstraints=CA:FALSE\n${extensions}`);
    if (options.expired) {
      // openssl ca is the one that takes explicit dates.
      writeFileSync(this.file('index.txt'), '');
      writeFileSync(this.file('serial'), '01\n');
      writeFileSync(
        this.file('ca.cnf'),
        '[ca]\ndefault_ca=test\n[test]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=any\nunique_subject=no\n[any]\ncommonName=supplied\n',
      );
      await this.openssl([
        'ca',
        '-batch',
        '-config',
        'ca.cnf',
        '-cert',
        `${ca}.pem`,
        '-keyfile',
        `${ca}.key`,
        '-in',
        `${name}.csr`,
        '-out',
        `${name}.pem`,
        '-notext',
        '-startdate',
        '20200101000000Z',
        '-enddate',
        '20200102000000Z',
        '-extfile',
        `${name}.ext`,
        '-extensions',
        'leaf',
      ]);
    } else {
      await this.openssl([
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${ca}.pem`,
        '-CAkey',
        `${ca}.key`,
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
        '-extensions',
        'leaf',
        '-out',
        `${name}.pem`,
      ]);
    }
    return { cert: this.file(`${name}.pem`), key: this.file(`${name}.key`) };
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
