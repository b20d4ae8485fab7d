# groupscaler's container image: built from Debian 12's packages, run as a
# non-root user on a minimal Debian runtime.
FROM debian:12 AS build
WORKDIR /src
COPY scripts/setup scripts/setup
RUN scripts/setup
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" --target groupscaler \
 && strip /build/groupscaler

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates librdkafka1 librdkafka++1 libyaml-cpp0.7 libcpprest2.10 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libspdlog1.10 libfmt9 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/groupscaler /usr/local/bin/groupscaler
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/groupscaler"]
CMD ["--help"]
