# troupe server image: a release build, plus ffmpeg for transcoding.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin troupe

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/troupe /usr/local/bin/troupe
COPY config/default.toml /etc/troupe/default.toml
WORKDIR /var/lib/troupe
EXPOSE 8080 7946
ENTRYPOINT ["troupe"]
CMD ["serve", "--config", "/etc/troupe/default.toml", "--listen", "0.0.0.0:8080", "--data-dir", "/var/lib/troupe"]
