# groupscaler's container images, built from Debian 12's packages and run as a
# non-root user on a distroless runtime:
#   docker build -t groupscaler:0.1.0 .                         (the controller)
#   docker build --target example-consumer -t groupscaler-example-consumer:0.1.0 .
# (or `buildah bud` with the same flags). Each runtime image is FROM scratch:
# its root filesystem (stage *-rootfs, made by scripts/image-rootfs) holds
# the files of exactly the Debian packages of the libraries its binary loads,
# Debian's CA bundle, the users root and nonroot (65532), and each package's
# copyright file; no shell, no package manager. tests/docker checks the
# package lists against `ldd` of the built binaries, so update them when the
# binary links a new library; tests/image builds both images and runs them.
# librdkafka is Debian's 2.8.0 package, which scripts/setup-librdkafka builds
# in the build stage from Debian's source (Debian 12's own 2.0.2 cannot
# authenticate with SCRAM to Kafka 4); it is built with libcurl (for OIDC),
# hence libcurl4 and the libraries it loads.

FROM debian:bookworm-slim AS build
WORKDIR /src
ENV GROUPSCALER_CACHE=/cache
COPY scripts/setup scripts/setup-librdkafka scripts/
RUN scripts/setup --packages-only && rm -rf /var/lib/apt/lists/*
COPY . .
# A unity build, through ccache in a cache mount that outlives the build
# (BuildKit's and buildah's RUN --mount): a rebuild after a small change
# takes about 20 s on 2 cores instead of 5 minutes.
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DGROUPSCALER_UNITY_BUILD=ON \
      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
 && cmake --build /build -j"$(nproc)" --target groupscaler example_consumer \
 && strip /build/groupscaler /build/examples/consumer/example_consumer

FROM debian:bookworm-slim AS example-consumer-rootfs
COPY scripts/image-rootfs /usr/local/sbin/
COPY --from=build /cache/librdkafka-2.8.0-1/librdkafka1_2.8.0-1_amd64.deb /tmp/
RUN image-rootfs /rootfs \
      libc6 libgcc-s1 libstdc++6 zlib1g libssl3 libzstd1 liblz4-1 libsasl2-2 libbrotli1 \
      /tmp/librdkafka1_2.8.0-1_amd64.deb \
      libcurl4 libnghttp2-14 libidn2-0 libunistring2 librtmp1 libssh2-1 libpsl5 libldap-2.5-0 \
      libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2 \
      libgnutls30 libhogweed6 libnettle8 libgmp10 libp11-kit0 libtasn1-6 libffi8

FROM scratch AS example-consumer
COPY --from=example-consumer-rootfs /rootfs /
COPY --from=build /build/examples/consumer/example_consumer /usr/local/bin/example_consumer
LABEL org.opencontainers.image.title="groupscaler example consumer" \
      org.opencontainers.image.description="A Kafka consumer service done right: one group, process then commit." \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.url="https://groupscaler.io"
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/example_consumer"]

FROM debian:bookworm-slim AS controller-rootfs
COPY scripts/image-rootfs /usr/local/sbin/
COPY --from=build /cache/librdkafka-2.8.0-1/librdkafka1_2.8.0-1_amd64.deb /tmp/
RUN image-rootfs /rootfs \
      libc6 libgcc-s1 libstdc++6 zlib1g libssl3 libzstd1 liblz4-1 libsasl2-2 libbrotli1 \
      /tmp/librdkafka1_2.8.0-1_amd64.deb libcpprest2.10 libyaml-cpp0.7 libspdlog1.10 libfmt9 \
      libprometheus-cpp-core1.0 libcivetweb1 \
      libcurl4 libnghttp2-14 libidn2-0 libunistring2 librtmp1 libssh2-1 libpsl5 libldap-2.5-0 \
      libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2 \
      libgnutls30 libhogweed6 libnettle8 libgmp10 libp11-kit0 libtasn1-6 libffi8

FROM scratch AS controller
COPY --from=controller-rootfs /rootfs /
COPY --from=build /build/groupscaler /usr/local/bin/groupscaler
LABEL org.opencontainers.image.title="groupscaler" \
      org.opencontainers.image.description="Scales Kafka consumer Deployments by their consumer group's lag, never past the partition count." \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.url="https://groupscaler.io"
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/groupscaler"]
CMD ["controller"]
