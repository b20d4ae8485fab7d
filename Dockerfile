# groupscaler's container images, built from Debian 12's packages and run as a
# non-root user on a minimal Debian runtime:
#   docker build -t groupscaler:0.1.0 .                         (the controller)
#   docker build --target example-consumer -t groupscaler-example-consumer:0.1.0 .
# Each runtime stage installs exactly the Debian packages of the libraries its
# binary loads; tests/docker checks the lists against `ldd` of the built
# binaries, so update them when the binary links a new library.

FROM debian:bookworm-slim AS build
WORKDIR /src
COPY scripts/setup scripts/setup
RUN scripts/setup --packages-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" --target groupscaler example_consumer \
 && strip /build/groupscaler /build/examples/consumer/example_consumer

FROM debian:bookworm-slim AS example-consumer
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libc6 libgcc-s1 libstdc++6 zlib1g libssl3 libzstd1 liblz4-1 libsasl2-2 librdkafka1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/examples/consumer/example_consumer /usr/local/bin/example_consumer
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/example_consumer"]

FROM debian:bookworm-slim AS controller
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libc6 libgcc-s1 libstdc++6 zlib1g libssl3 libzstd1 liblz4-1 libsasl2-2 libbrotli1 \
      librdkafka1 libcpprest2.10 libyaml-cpp0.7 libspdlog1.10 libfmt9 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libcivetweb1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/groupscaler /usr/local/bin/groupscaler
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/groupscaler"]
CMD ["controller"]
