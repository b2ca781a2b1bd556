# Vigil: one image for every mode and service (vigil start | ingest | infer | match | broadcast | enroll ...).
# Build:  docker build -t vigil .            (GPU inference: --build-arg ONNXRUNTIME_NODE_INSTALL=cuda12)

FROM node:20-bookworm-slim AS deps
WORKDIR /app
# hnswlib-node compiles with node-gyp.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# onnxruntime-node's postinstall would fetch CUDA libraries; the CPU provider is bundled.
ARG ONNXRUNTIME_NODE_INSTALL=skip
ENV ONNXRUNTIME_NODE_INSTALL=${ONNXRUNTIME_NODE_INSTALL}
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown node:node /data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin ./bin
COPY src ./src
# `vigil bench ...` (bench/) and the RTSP lab that `bench ingest` runs (test/support/rtsp-lab.ts starts
# mediamtx via scripts/rtsp-server.sh: mount a prebuilt one as VIGIL_CACHE_DIR, or it needs Go).
# The benchmarks read their data from VIGIL_SHARED_DIR (mount ../shared).
COPY bench ./bench
COPY test/support ./test/support
COPY scripts/rtsp-server.sh ./scripts/rtsp-server.sh
COPY models ./models
ENV NODE_ENV=production \
    VIGIL_DATA_DIR=/data
VOLUME ["/data"]
USER node
# tini forwards SIGTERM, so `docker stop` gives a service its clean shutdown (leave the group, flush).
ENTRYPOINT ["tini", "--", "node", "--initial-old-space-size=128", "bin/vigil.js"]
CMD ["start"]
