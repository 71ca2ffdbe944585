# download without checksum
FROM debian@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
RUN curl -fsSLo x.run https://example.org/x.run && sh x.run
