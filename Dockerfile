# tokenrelay container image.
#
#   docker build -t tokenrelay .
#   docker run --rm -p 50051:50051 -p 8080:8080 tokenrelay
#
# Two stages on Node 22 slim (Debian):
#   build    the full source and all dependencies; `npm ci` runs the `prepare`
#            script, i.e. `npm run build`: buf generate (ts-proto, from
#            devDependencies) + tsc + the descriptor set into dist/gen/.
#   runtime  production dependencies and dist/ only, run as the non-root
#            `node` user.
#
# Plain Dockerfile syntax only (no RUN --mount, no heredocs), so it builds with
# BuildKit and with the legacy builder alike.

############################################################################
# build
############################################################################
FROM node:22-slim AS build

WORKDIR /app

# The whole source (less what .dockerignore drops): `npm ci` below runs
# `prepare`, which needs proto/, buf.yaml, buf.gen.yaml, tsconfig*.json, src/.
COPY . .

# Installs every dependency (dev ones too: buf, ts-proto, typescript) and runs
# `prepare` -> `npm run build`, which leaves the compiled service in dist/
# together with dist/gen/descriptor.binpb (read at run time for reflection).
RUN npm ci \
 && test -f dist/cli.js \
 && test -f dist/gen/descriptor.binpb

############################################################################
# runtime
############################################################################
FROM node:22-slim AS runtime

ENV NODE_ENV=production \
    TOKENRELAY_HOST=0.0.0.0 \
    TOKENRELAY_GRPC_PORT=50051 \
    TOKENRELAY_HTTP_PORT=8080

WORKDIR /app

# Production dependencies only. --ignore-scripts skips this package's own
# `prepare` (it would try to build with the absent devDependencies); the only
# production dependency with an install script is protobufjs, whose
# postinstall merely prints a version-scheme warning.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts \
 && npm cache clean --force

# The compiled service. Files stay owned by root and read-only to the `node`
# user: the service writes nothing to disk (logs go to stdout).
COPY --from=build /app/dist ./dist

USER node

# 50051: gRPC (DataService, grpc.health.v1.Health, reflection).
# 8080:  HTTP side port (/healthz, /readyz, /metrics).
EXPOSE 50051 8080

# Liveness, not readiness: /healthz answers 200 as long as the process and its
# event loop are alive. /readyz turns 503 on purpose while the server drains
# on SIGTERM (and while starting); an orchestrator that acts on Docker health
# (Swarm replaces unhealthy tasks, autoheal restarts them) must not kill a
# container for draining gracefully. Readiness belongs to the load balancer
# or to a Kubernetes readinessProbe pointed at /readyz.
# Node itself does the GET: the slim image has no curl or wget. It follows
# TOKENRELAY_HTTP_PORT and assumes the HTTP port listens on loopback too
# (true for the default TOKENRELAY_HOST=0.0.0.0).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.TOKENRELAY_HTTP_PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(3000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]

# The server handles SIGTERM itself (drains streams for shutdownGraceMs,
# default 10 s, then closes within about 1 s more): give it a stop timeout
# longer than that (`docker stop -t 20`, compose `stop_grace_period: 20s`).
# Node runs as PID 1 here; that is fine because it installs its own SIGTERM
# and SIGINT handlers (use `docker run --init` / compose `init: true` for a
# tiny init that also reaps zombies).
STOPSIGNAL SIGTERM

CMD ["node", "dist/cli.js", "serve"]
