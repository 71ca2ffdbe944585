# git checkout verified against a tag name, not a SHA
FROM debian@sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
ARG REF=v2.7.3
RUN git clone https://x/zephyr /z && cd /z && git checkout "$REF" && test "$(git rev-parse HEAD)" = "${REF}"
