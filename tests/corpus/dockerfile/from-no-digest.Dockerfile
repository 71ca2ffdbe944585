# FROM without a digest
FROM debian:bookworm-slim
RUN true
