# short digest
FROM debian@sha256:1234abcd
