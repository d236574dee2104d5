# canaryd container: Node 24 LTS (Node 20 is end-of-life), multi-stage, non-root.
# Build:  docker build -t canaryd .
# Run:    docker run -p 8080:8080 -v $PWD/canaryd.yaml:/etc/canaryd/canaryd.yaml:ro -v canaryd-state:/var/lib/canaryd canaryd
# The config is read from $CANARYD_CONFIG (/etc/canaryd/canaryd.yaml). Keys the file leaves out take the
# image's defaults below: the data plane on 0.0.0.0:8080 (reachable through -p), the admin API on
# 127.0.0.1:9901 (set admin.listen: 0.0.0.0:9901 together with admin.token to reach it from outside),
# state (rollout step, audit log) in /var/lib/canaryd: mount a volume there to survive restarts.
# test/container.test.ts runs the packaged dist/ the way ENTRYPOINT and CMD below do, with this ENV.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The image holds exactly what `npm pack` ships (package.json "files": no dist/test, no dist/bench, no maps),
# with production dependencies from the lockfile.
RUN npm run build && npm pack --pack-destination /tmp \
 && mkdir /app && tar -xzf /tmp/canaryd-*.tgz -C /app --strip-components=1 \
 && cp package-lock.json /app/ && cd /app && npm ci --omit=dev --no-audit --no-fund && rm package-lock.json

FROM node:24-bookworm-slim
ENV NODE_ENV=production CANARYD_CONFIG=/etc/canaryd/canaryd.yaml CANARYD_LISTEN=0.0.0.0:8080 CANARYD_STATE_DIR=/var/lib/canaryd
WORKDIR /app
COPY --from=build /app ./
RUN mkdir -p /etc/canaryd /var/lib/canaryd && chown node:node /var/lib/canaryd
USER node
EXPOSE 8080 9901
VOLUME ["/var/lib/canaryd"]
# The admin port comes from the same config file the process reads.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["node", "dist/cli/canaryd.js", "healthcheck"]
STOPSIGNAL SIGTERM
# --max-semi-space-size=4 (MB): V8's young generation then stays small; same throughput, ~20 MB less RSS
# under load (bench/RESULTS.md, "Memory").
ENTRYPOINT ["node", "--max-semi-space-size=4", "dist/cli/canaryd.js"]
CMD ["run", "--config", "/etc/canaryd/canaryd.yaml"]
