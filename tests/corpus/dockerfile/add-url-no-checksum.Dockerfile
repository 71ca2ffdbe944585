# ADD of a URL without --checksum
FROM debian@sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
ADD https://example.org/x.tar.gz /opt/
