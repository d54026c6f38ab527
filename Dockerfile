# One image for every Node service of the deployment (certs, kbs, manager, proplets):
# `propeller <command>` is its entrypoint. See docker-compose.yml and README.md "Production".

# --- build: all dependencies, compile TypeScript, then drop the dev dependencies ---------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY lib/ lib/
COPY protocol/ protocol/
COPY db/ db/
COPY mqtt/ mqtt/
COPY manager/ manager/
COPY proplet/ proplet/
COPY kbs/ kbs/
COPY attestation/ attestation/
COPY cli/ cli/
COPY certs/ certs/
COPY oci/ oci/
# `npm ci` runs the `prepare` script (tsc -p tsconfig.build.json) once the sources are here.
RUN npm ci && npm prune --omit=dev

# --- runtime: compiled code, production dependencies, migrations -------------------------------
FROM node:20-bookworm-slim
# tpm2-tools: the TPM attester of proplets that run on a TPM (PROPELLER_TEE {"type":"tpm",…}).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tpm2-tools ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
COPY bin/ bin/
COPY migrations/ migrations/
# The dashboard's stylesheet and script (manager/ui/routes.ts finds them from dist/).
COPY manager/ui/static/ manager/ui/static/
RUN ln -s /app/bin/propeller.js /usr/local/bin/propeller
# The services never need root; the one-shot `certs` service runs as root (user: "0") only to
# hand each key to the user that reads it.
USER node
ENTRYPOINT ["propeller"]
CMD ["help"]
