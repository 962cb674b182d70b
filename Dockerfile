# Build: docker build -t affnet .   (used by docker-compose.yml)
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p affnet-server

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates curl && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/affnet --create-home affnet
COPY --from=build /src/target/release/affnet /usr/local/bin/affnet
USER affnet
WORKDIR /var/lib/affnet
ENV AFFNET_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["affnet"]
CMD ["serve"]
