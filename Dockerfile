# groupscaler's container images, built from Debian 12's packages and run as a
# non-root user on a minimal Debian runtime:
#   docker build -t groupscaler:0.1.0 .                         (the controller)
#   docker build --target example-consumer -t groupscaler-example-consumer:0.1.0 .
FROM debian:12 AS build
WORKDIR /src
COPY scripts/setup scripts/setup
RUN scripts/setup
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" --target groupscaler example_consumer \
 && strip /build/groupscaler /build/examples/consumer/example_consumer

FROM debian:12-slim AS example-consumer
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates librdkafka1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/examples/consumer/example_consumer /usr/local/bin/example_consumer
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/example_consumer"]

FROM debian:12-slim AS controller
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates librdkafka1 librdkafka++1 libyaml-cpp0.7 libcpprest2.10 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libspdlog1.10 libfmt9 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/groupscaler /usr/local/bin/groupscaler
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/groupscaler"]
CMD ["--help"]
