/**
 * The layout's rules, checked in `npm test` (`depcruise src`): the core
 * knows nothing of gRPC or HTTP, the two edges do not lean on each other,
 * and the SDK and the server share only src/common and the generated code.
 * docs/architecture.md draws the layers these rules hold.
 */
module.exports = {
  forbidden: [
    {
      name: 'core-knows-no-transport',
      comment: 'src/core is the stream log, the producers and what a call does with them: no gRPC, no HTTP server, no edge, no wiring, no SDK.',
      severity: 'error',
      from: { path: '^src/core/', pathNot: '^src/core/models/upstream/http\\.ts$' },
      to: {
        path: ['^src/(grpc|http|client|gen)/', '^src/cli\\.ts$', 'node_modules/@grpc/', '^(node:)?http2?$'],
      },
    },
    {
      name: 'core-upstream-client-knows-no-transport',
      comment: 'The same for the upstream client, which (itself an HTTP client) may read reason phrases from node:http.',
      severity: 'error',
      from: { path: '^src/core/models/upstream/http\\.ts$' },
      to: { path: ['^src/(grpc|http|client|gen)/', '^src/cli\\.ts$', 'node_modules/@grpc/', '^(node:)?http2$'] },
    },
    {
      name: 'core-knows-no-wiring',
      comment: 'The core (its config included) knows nothing of what assembles and serves it.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/server/' },
    },
    {
      name: 'grpc-edge-is-not-http',
      severity: 'error',
      from: { path: '^src/grpc/' },
      to: { path: ['^src/http/', '^(node:)?http$'] },
    },
    {
      name: 'http-edge-is-not-grpc',
      severity: 'error',
      from: { path: '^src/http/' },
      to: { path: ['^src/grpc/', '^src/gen/', 'node_modules/@grpc/'] },
    },
    {
      name: 'server-code-loads-no-sdk',
      comment: 'The server never imports the SDK (what they share is in src/common).',
      severity: 'error',
      from: { path: '^src/(core|grpc|http|server)/' },
      to: { path: '^src/client/' },
    },
    {
      name: 'sdk-loads-no-server-code',
      comment: "tokenrelay/client must load without the server's code and dependencies.",
      severity: 'error',
      from: { path: '^src/client/' },
      to: { path: ['^src/(core|grpc|http|server)/', '^src/cli\\.ts$'] },
    },
    {
      name: 'common-imports-nothing-of-ours',
      severity: 'error',
      from: { path: '^src/common/' },
      to: { path: '^src/(?!common/)' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules', '^src/gen/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.build.json' },
  },
};
