# wget without checksum
FROM debian@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
RUN wget -q https://example.org/x.tar.xz \
    && tar xf x.tar.xz
