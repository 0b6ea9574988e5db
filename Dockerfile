# troupe server image: the web console and a release build that embeds it, plus ffmpeg for
# transcoding.
FROM node:20-bookworm AS console
WORKDIR /src
COPY docs/openapi.json docs/openapi.json
COPY web web
RUN cd web && rm -rf node_modules dist && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund \
    && npm run build

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
COPY --from=console /src/web/dist web/dist
RUN cargo build --release --bin troupe

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/troupe /usr/local/bin/troupe
COPY config/default.toml /etc/troupe/default.toml
WORKDIR /var/lib/troupe
EXPOSE 8080 7946 7947
ENTRYPOINT ["troupe"]
CMD ["serve", "--config", "/etc/troupe/default.toml", "--listen", "0.0.0.0:8080", "--data-dir", "/var/lib/troupe"]
